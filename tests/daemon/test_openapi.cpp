#include "http_server.hpp"
#include "openapi.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/metrics.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace zsimem;

namespace {

const std::vector<std::string> k_methods{"get", "post", "put", "patch", "delete"};

daemon::ServerOptions options() {
  daemon::ServerOptions options = testing::TestDaemon::default_options();
  options.threads = 4;
  return options;
}

// The test daemon on the first backend, with these options.
struct Daemon : testing::TestDaemon {
  Daemon() : TestDaemon(file_backend_names().front(), options()) {}
};

// Follows a "#/components/..." reference within the document.
const Json& resolve(const Json& document, const Json& node) {
  if (node.is_object() && node.contains("$ref")) {
    return document.at(Json::json_pointer(node["$ref"].get<std::string>().substr(1)));
  }
  return node;
}

// "/a/{user_id}/b" -> "/a/{}/b": path templates compared by shape.
std::string shape(const std::string& path) { return std::regex_replace(path, std::regex(R"(\{[^}]*\})"), "{}"); }

// One documented operation, made concrete with the document's examples.
struct Probe {
  std::string method;
  std::string path; // as documented
  std::string target;
  std::string body;
  Json operation;
};

Probe make_probe(const Json& document, const std::string& path, const std::string& method) {
  Probe probe{method, path, path, {}, document["paths"][path][method]};
  std::string query;
  const Json params = probe.operation.value("parameters", Json::array());
  for (const auto& item : params) {
    const Json& param = resolve(document, item);
    const std::string name = param["name"];
    if (param["in"] == "path") {
      INFO(method << " " << path << ": path parameter " << name << " has an example");
      REQUIRE(param.contains("example"));
      const auto at = probe.target.find("{" + name + "}");
      REQUIRE(at != std::string::npos);
      probe.target.replace(at, name.size() + 2, param["example"].get<std::string>());
    } else if (param["in"] == "query" && param.value("required", false)) {
      INFO(method << " " << path << ": required query parameter " << name << " has an example");
      REQUIRE(param.contains("example"));
      // An array is a repeated parameter: ?field=/a&field=/b.
      const Json& example = param["example"];
      for (const auto& value : example.is_array() ? example : Json::array({example})) {
        query += (query.empty() ? "?" : "&") + name + "=" + value.get<std::string>();
      }
    }
  }
  probe.target += query;
  if (probe.operation.contains("requestBody")) {
    const Json& media = resolve(document, probe.operation["requestBody"])["content"]["application/json"];
    INFO(method << " " << path << ": the request body has an example");
    REQUIRE(media.contains("example"));
    probe.body = media["example"].dump();
  }
  return probe;
}

// The response, or nothing when the request failed. An event stream never
// ends: its response is what arrived first.
std::optional<httplib::Response> send(httplib::Client& client, const std::string& method, const std::string& target,
                                      const std::string& body, const httplib::Headers& headers) {
  const auto response_of = [](httplib::Result result) {
    return result ? std::optional<httplib::Response>(*result) : std::nullopt;
  };
  if (method == "get") {
    std::optional<httplib::Response> response;
    client.Get(
        target.c_str(), headers,
        [&](const httplib::Response& head) {
          response = head;
          return true;
        },
        [&](const char* data, std::size_t length) {
          response->body.append(data, length);
          return !response->get_header_value("Content-Type").starts_with("text/event-stream");
        });
    return response;
  }
  if (method == "post") {
    return response_of(client.Post(target.c_str(), headers, body, "application/json"));
  }
  if (method == "put") {
    return response_of(client.Put(target.c_str(), headers, body, "application/json"));
  }
  if (method == "patch") {
    return response_of(client.Patch(target.c_str(), headers, body, "application/json"));
  }
  return response_of(client.Delete(target.c_str(), headers));
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The route patterns routes.cpp registers, as path shapes: server.Get("/x")
// calls, add(server, {"/x", ...}) and add(server, {memory, user or
// options.api_prefix + "/x", ...}).
std::set<std::string> registered_route_shapes(const std::string& prefix) {
  const std::string source = read_text(std::filesystem::path(ZSIMEM_SOURCE_DIR) / "daemon" / "routes.cpp");
  std::set<std::string> shapes;
  const std::regex literal(
      R"re((?:server\s*\.\s*(?:Get|Post|Put|Patch|Delete)\s*\(|add\s*\(\s*server\s*,\s*\{)\s*"([^"]+)")re");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), literal); it != std::sregex_iterator(); ++it) {
    shapes.insert(std::regex_replace((*it)[1].str(), std::regex(R"(\(\[\^/\]\+\))"), "{}"));
  }
  const std::regex added(
      R"re(add\s*\(\s*server\s*,\s*\{\s*(memory|user|options\.api_prefix)\s*(?:\+\s*"([^"]*)"\s*)?,)re");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), added); it != std::sregex_iterator(); ++it) {
    const std::string base = (*it)[1] == "memory" ? prefix + "/memory"
                             : (*it)[1] == "user" ? prefix + "/memory/{}"
                                                  : prefix;
    shapes.insert(base + std::regex_replace((*it)[2].str(), std::regex(R"(\(\[\^/\]\+\))"), "{}"));
  }
  return shapes;
}

} // namespace

TEST_CASE("openapi: the document names every route the daemon serves, and the daemon serves every documented "
          "operation",
          "[http][openapi]") {
  const daemon::ServerOptions opts = options();
  const Json document = daemon::openapi_document(opts);
  std::set<std::string> documented;
  for (const auto& [path, item] : document["paths"].items()) {
    documented.insert(shape(path));
  }

  SECTION("every route registered in routes.cpp is documented") {
    const auto registered = registered_route_shapes(opts.api_prefix);
    // The scan must find the routes at all: else routes.cpp changed its form.
    INFO("if routes.cpp registers routes differently now, update registered_route_shapes()");
    REQUIRE(registered.size() >= 10);
    for (const auto& route : registered) {
      INFO("route " << route << " (from daemon/routes.cpp)");
      CHECK(documented.count(route) == 1);
    }
  }

  SECTION("the live daemon answers every documented operation as documented") {
    Daemon d;
    httplib::Client client("127.0.0.1", d.port);
    client.set_read_timeout(10, 0);
    // A user with two versions, so that reads find something.
    const std::string alice = opts.api_prefix + "/memory/alice";
    REQUIRE(client.Post(alice.c_str(), R"({"user_id":"alice","delta":{"diet":{"kcal":1700}}})", "application/json"));
    REQUIRE(client.Post(alice.c_str(), R"({"user_id":"alice","delta":{"steps":9000}})", "application/json"));

    // Deletes last: they erase what the others read.
    std::vector<Probe> probes;
    std::vector<Probe> deletes;
    for (const auto& [path, item] : document["paths"].items()) {
      for (const auto& method : k_methods) {
        if (item.contains(method)) {
          (method == "delete" ? deletes : probes).push_back(make_probe(document, path, method));
        }
      }
    }
    probes.insert(probes.end(), deletes.begin(), deletes.end());
    REQUIRE(probes.size() >= 10);

    int count = 0;
    for (const auto& probe : probes) {
      const std::string request_id = "probe-" + std::to_string(++count);
      const auto result = send(client, probe.method, probe.target, probe.body, {{"X-Request-ID", request_id}});
      REQUIRE(result.has_value());
      INFO(probe.method << " " << probe.target << " -> " << result->status << " " << result->body);
      const std::string content_type = result->get_header_value("Content-Type");
      const std::string media_type = content_type.substr(0, content_type.find(';'));
      const Json body = media_type == "application/json" ? Json::parse(result->body) : Json(result->body);
      const bool no_route = result->status == 404 && body.is_object() && body.value("detail", Json()) == "Not Found";
      CHECK_FALSE(no_route);
      CHECK(result->status != 405);
      CHECK(result->get_header_value("X-Request-ID") == request_id);
      const Json& responses = probe.operation["responses"];
      const std::string status = std::to_string(result->status);
      CHECK(responses.contains(status));
      if (result->status != 200 || !responses.contains(status)) {
        continue;
      }
      const Json& ok = resolve(document, responses[status]);
      const Json headers = ok.value("headers", Json::object());
      for (const auto& [name, header] : headers.items()) {
        INFO("response header " << name);
        CHECK(result->has_header(name.c_str()));
      }
      const Json content = ok.value("content", Json::object());
      CHECK(content.contains(media_type));
      if (media_type != "application/json" || !content.contains(media_type)) {
        continue;
      }
      // The body has the members the schema requires.
      const Json& schema = resolve(document, content[media_type]["schema"]);
      const Json required = schema.value("required", Json::array());
      for (const auto& member : required) {
        INFO("response member " << member);
        CHECK(body.contains(member.get<std::string>()));
      }
      if (probe.path == "/openapi.json") { // the route serves this very document
        CHECK(body == document);
      }
    }
  }

  SECTION("methods a route does not document answer 405") {
    Daemon d;
    httplib::Client client("127.0.0.1", d.port);
    client.set_read_timeout(10, 0);
    for (const auto& [path, item] : document["paths"].items()) {
      for (const auto& method : k_methods) {
        if (item.contains(method)) {
          continue;
        }
        const std::string target = std::regex_replace(path, std::regex(R"(\{[^}]*\})"), "1");
        const auto result = send(client, method, target, "{}", {});
        REQUIRE(result.has_value());
        INFO(method << " " << target << " -> " << result->status << " " << result->body);
        CHECK(result->status == 405);
      }
    }
  }
}

TEST_CASE("openapi: the paths follow the API prefix", "[http][openapi]") {
  daemon::ServerOptions opts;
  opts.api_prefix = "/zsimem/v2";
  const Json document = daemon::openapi_document(opts);
  const auto& paths = document["paths"];
  CHECK(paths.contains("/zsimem/v2/memory/{user_id}"));
  CHECK(paths.contains("/zsimem/v2/memory/logs"));
  CHECK(paths.contains("/healthz"));
  CHECK(paths.contains("/openapi.json"));
  for (const auto& [path, item] : paths.items()) {
    INFO(path);
    CHECK((path.starts_with("/zsimem/v2/memory/") || path == "/zsimem/v2/features" || path == "/zsimem/v2/users" ||
           path == "/zsimem/v2/hooks" || path == "/healthz" || path == "/metrics" || path == "/openapi.json" ||
           path.starts_with("/ui")));
  }
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["info"]["version"].is_string());
}

TEST_CASE("openapi: the document is valid OpenAPI 3.1 (tests/daemon/openapi/validate.mjs)", "[http][openapi]") {
  const std::filesystem::path validator_dir = std::filesystem::path(ZSIMEM_SOURCE_DIR) / "tests" / "daemon" / "openapi";
  if (!std::filesystem::exists(validator_dir / "node_modules" / "@seriousme" / "openapi-schema-validator")) {
    FAIL("the OpenAPI validator is not installed: run `npm ci --prefix tests/daemon/openapi`");
  }
  testing::TempDir dir;
  const auto validate = [&](const Json& document) {
    const auto file = dir.path() / "openapi.json";
    std::ofstream(file) << document.dump(2);
    try {
      return testing::run_process({"node", (validator_dir / "validate.mjs").string(), file.string()});
    } catch (const std::runtime_error& error) {
      FAIL("cannot run node (Node.js 18 or later is needed): " << error.what());
    }
    return testing::ProcessResult{};
  };

  const Json document = daemon::openapi_document(options());
  const auto valid = validate(document);
  INFO(valid.out << valid.err);
  CHECK(valid.exit_code == 0);

  // The validator is not vacuous: it rejects a 3.0 keyword, an example that
  // does not match its schema, and an undeclared path parameter.
  Json nullable = document;
  nullable["components"]["schemas"]["Detail"]["properties"]["detail"]["nullable"] = true;
  const auto with_nullable = validate(nullable);
  INFO(with_nullable.err);
  CHECK(with_nullable.exit_code == 1);

  Json bad_example = document;
  bad_example["components"]["schemas"]["UserContext"]["examples"][0]["version"] = 3;
  const auto with_bad_example = validate(bad_example);
  INFO(with_bad_example.err);
  CHECK(with_bad_example.exit_code == 1);

  Json undeclared = document;
  undeclared["paths"]["/healthz/{probe}"] = undeclared["paths"]["/healthz"];
  undeclared["paths"]["/healthz/{probe}"]["get"]["operationId"] = "healthz_probe";
  const auto with_undeclared = validate(undeclared);
  INFO(with_undeclared.err);
  CHECK(with_undeclared.exit_code == 1);
}

TEST_CASE("openapi: docs/http-api.md lists every documented operation", "[http][openapi][docs]") {
  const daemon::ServerOptions opts = options();
  const Json document = daemon::openapi_document(opts);
  const std::string reference = read_text(std::filesystem::path(ZSIMEM_SOURCE_DIR) / "docs" / "http-api.md");
  // Every `METHOD PATH` in the reference, as a shape: {P} is the prefix, any
  // {name} a parameter, the query left out.
  std::set<std::string> listed;
  const std::regex entry(R"re(`(GET|POST|DELETE|PUT|PATCH) ([^`?]+)[^`]*`)re");
  for (auto it = std::sregex_iterator(reference.begin(), reference.end(), entry); it != std::sregex_iterator(); ++it) {
    std::string path = (*it)[2];
    if (path.starts_with("{P}")) {
      path = opts.api_prefix + path.substr(3);
    }
    listed.insert((*it)[1].str() + " " + shape(path));
  }
  for (const auto& [path, item] : document["paths"].items()) {
    for (const auto& method : k_methods) {
      if (item.contains(method)) {
        std::string upper = method;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        INFO(upper << " " << path << " is in the OpenAPI document but not in docs/http-api.md");
        CHECK(listed.contains(upper + " " + shape(path)));
      }
    }
  }
}
