#include "http_server.hpp"
#include "support/history.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/metrics.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace zsimem;
using Daemon = zsimem::testing::TestDaemon;

namespace {

const std::string k_memory = "/api/v1/memory";

Json body_of(const httplib::Result& result) {
  REQUIRE(result);
  return Json::parse(result->body);
}

httplib::Result post_json(httplib::Client& client, const std::string& path, const Json& body,
                          const httplib::Headers& headers = {}) {
  return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

} // namespace

TEST_CASE("http: the spec's endpoints load, merge, list and roll back", "[http]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  auto client = d.client();
  auto merged = post_json(client, k_memory + "/alice",
                          Json{{"user_id", "alice"}, {"delta", {{"diet", {{"kcal", 1800}}}}}, {"tags", {"nutrition"}}},
                          {{"X-Request-ID", "trace-1"}});
  REQUIRE(merged);
  CHECK(merged->status == 200);
  CHECK(merged->get_header_value("X-Request-ID") == "trace-1");
  CHECK(merged->get_header_value("ETag") == "\"1\"");
  const Json context = Json::parse(merged->body);
  CHECK(context["user_id"] == "alice");
  CHECK(context["version"] == "1");
  CHECK(context["data"]["diet"]["kcal"] == 1800);
  CHECK(context["updated_at"].get<std::string>().ends_with("Z"));

  post_json(client, k_memory + "/alice", Json{{"user_id", "alice"}, {"delta", {{"steps", 9000}}}});
  const auto got = client.Get((k_memory + "/alice").c_str());
  CHECK(body_of(got)["version"] == "2");
  CHECK(got->get_header_value("ETag") == "\"2\"");
  CHECK(body_of(client.Get((k_memory + "/alice?version=1").c_str()))["data"].count("steps") == 0);
  CHECK(body_of(client.Get((k_memory + "/alice?date=2999-01-01").c_str()))["version"] == "2");

  const Json history = body_of(client.Get((k_memory + "/alice/history?limit=1").c_str()));
  CHECK(history["versions"].size() == 1);
  CHECK(history["versions"][0]["version"] == "2");
  CHECK(history["next_cursor"] == "2");
  CHECK(body_of(client.Get((k_memory + "/alice/history?cursor=2").c_str()))["versions"][0]["request_id"] == "trace-1");

  const Json rolled = body_of(post_json(client, k_memory + "/alice/rollback", Json{{"version", "1"}}));
  CHECK(rolled["version"] == "3");
  CHECK(rolled["data"] == context["data"]);
  CHECK(body_of(client.Get((k_memory + "/alice/versions/3").c_str()))["rollback_of"] == "1");
  const Json diff = body_of(client.Get((k_memory + "/alice/diff?from=2&to=3").c_str()));
  CHECK(diff["merge_patch"] == Json::parse(R"({"steps":null})"));
  CHECK(body_of(client.Get((k_memory + "/alice/blame").c_str()))[0]["path"] == "/diet/kcal");
  CHECK(body_of(client.Get((k_memory + "/alice/namespaces").c_str())) == Json::parse(R"(["default"])"));

  const Json logs = body_of(client.Get((k_memory + "/logs?user_id=alice&limit=50").c_str()));
  bool traced = false;
  for (const auto& record : logs["records"]) {
    traced = traced || (record["request_id"] == "trace-1" && record["operation"] == "merge");
  }
  CHECK(traced);

  const Json erased = body_of(client.Delete((k_memory + "/alice").c_str()));
  CHECK(erased["removed_versions"] == 3);
  CHECK(client.Get((k_memory + "/alice").c_str())->status == 404);
  CHECK(body_of(client.Get("/healthz"))["status"] == "ok");
}

TEST_CASE("http: errors have FastAPI's statuses and shapes", "[http]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  auto client = d.client();
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 1}}}});
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 2}}}});

  const auto status = [](const httplib::Result& result) { return result ? result->status : -1; };
  auto malformed = client.Post((k_memory + "/u").c_str(), "{\"user_id\":", "application/json");
  CHECK(status(malformed) == 400);
  CHECK(body_of(malformed)["detail"].is_string());

  // Out-of-range numbers and bytes that are not UTF-8 are malformed input, and
  // the message quoting them must still be valid JSON.
  for (const std::string& body : {std::string(R"({"user_id":"u","delta":{"a":1e999}})"),
                                  std::string("{\"user_id\":\"u\",\"delta\":{\"a\":\"\xff\"}}")}) {
    auto refused = client.Post((k_memory + "/u").c_str(), body, "application/json");
    CHECK(status(refused) == 400);
    CHECK(body_of(refused)["detail"].is_string());
  }

  auto not_object = post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {1, 2}}});
  CHECK(status(not_object) == 422);
  CHECK(body_of(not_object)["detail"][0]["loc"] == Json::parse(R"(["body","delta"])"));
  CHECK(body_of(not_object)["detail"][0]["type"] == "value_error");

  auto bad_path = client.Get((k_memory + "/bad..id").c_str());
  CHECK(status(bad_path) == 422);
  CHECK(body_of(bad_path)["detail"][0]["loc"] == Json::parse(R"(["path","user_id"])"));
  CHECK(status(post_json(client, k_memory + "/u", Json{{"user_id", "v"}, {"delta", Json::object()}})) == 422);
  CHECK(status(client.Get((k_memory + "/u?version=abc").c_str())) == 422);
  CHECK(status(client.Get((k_memory + "/u?date=yesterday").c_str())) == 422);
  CHECK(status(client.Get((k_memory + "/u/history?limit=0").c_str())) == 422);

  CHECK(status(client.Get((k_memory + "/nobody").c_str())) == 404);
  CHECK(status(client.Get((k_memory + "/u/versions/9").c_str())) == 404);
  auto no_route = client.Get("/api/v1/elsewhere");
  CHECK(status(no_route) == 404);
  CHECK(body_of(no_route)["detail"] == "Not Found");
  auto wrong_method = client.Put((k_memory + "/u").c_str(), "{}", "application/json");
  CHECK(status(wrong_method) == 405);
  CHECK(body_of(wrong_method)["detail"] == "Method Not Allowed");

  auto conflict =
      post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 3}}}, {"expected_version", "1"}});
  CHECK(status(conflict) == 409);
  CHECK(body_of(conflict)["detail"]["current_version"] == "2");
  CHECK(body_of(conflict)["detail"]["conflicting_paths"] == Json::parse(R"(["/a"])"));

  auto precondition =
      post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"b", 1}}}}, {{"If-Match", "\"1\""}});
  CHECK(status(precondition) == 412);
  // With If-Match, only a moved head is the header's failure; a bad body is still the body's.
  auto bad_body_if_match =
      post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {1}}}, {{"If-Match", "\"2\""}});
  CHECK(status(bad_body_if_match) == 422);
  CHECK(body_of(bad_body_if_match)["detail"][0]["loc"] == Json::parse(R"(["body","delta"])"));
  CHECK(status(post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"b", 1}}}},
                         {{"If-Match", "\"2\""}})) == 200);

  auto too_large =
      post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", std::string(100 * 1024, 'x')}}}});
  CHECK(status(too_large) == 413);

  // The daemon keeps serving after all of that.
  CHECK(body_of(client.Get((k_memory + "/u").c_str()))["version"] == "3");
}

TEST_CASE("http: Idempotency-Key replays the first version", "[http]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  auto client = d.client();
  const Json update{{"user_id", "u"}, {"delta", {{"n", 1}}}};
  auto first = post_json(client, k_memory + "/u", update, {{"Idempotency-Key", "k-1"}});
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"m", 1}}}});
  auto again = post_json(client, k_memory + "/u", update, {{"Idempotency-Key", "k-1"}});
  REQUIRE(again);
  CHECK(again->get_header_value("X-Zsimem-Outcome") == "replayed");
  CHECK(Json::parse(again->body)["version"] == Json::parse(first->body)["version"]);
}

TEST_CASE("http: concurrent If-Match increments lose nothing while a CLI process writes too", "[http][concurrency]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  Daemon d(backend);
  const int threads = 6;
  const int increments = 20;
  std::atomic<int> successes{0};
  std::atomic<bool> failed{false};
  const auto increment_over_http = [&] {
    auto client = d.client();
    for (int done = 0; done < increments && !failed;) {
      auto current = client.Get((k_memory + "/counter").c_str());
      if (!current) {
        failed = true;
        return;
      }
      std::int64_t value = 0;
      std::string etag = "\"0\"";
      if (current->status == 200) {
        value = Json::parse(current->body)["data"]["counter"].get<std::int64_t>();
        etag = current->get_header_value("ETag");
      }
      auto result = post_json(client, k_memory + "/counter",
                              Json{{"user_id", "counter"}, {"delta", {{"counter", value + 1}}}}, {{"If-Match", etag}});
      if (!result || (result->status != 200 && result->status != 412)) {
        failed = true;
        return;
      }
      if (result->status == 200) {
        ++done;
        ++successes;
      }
    }
  };
  // The CLI increments the same store directly, with --if-version and retry.
  const auto increment_with_cli = [&] {
    const std::vector<std::string> base{ZSIMEM_BINARY, "--backend", backend, "--data-dir", d.dir.path().string()};
    for (int done = 0; done < increments && !failed;) {
      auto argv = base;
      argv.insert(argv.end(), {"get", "counter", "-o", "json"});
      const auto current = testing::run_process(argv);
      std::int64_t value = 0;
      std::string version = "0";
      if (current.exit_code == 0) {
        const Json context = Json::parse(current.out);
        value = context["data"]["counter"].get<std::int64_t>();
        version = context["version"].get<std::string>();
      }
      argv = base;
      argv.insert(argv.end(), {"merge", "counter", R"({"counter":)" + std::to_string(value + 1) + "}", "--if-version",
                               version, "--strict"});
      const auto result = testing::run_process(argv);
      if (result.exit_code == 0) {
        ++done;
        ++successes;
      } else if (result.exit_code != 4) {
        failed = true;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back(increment_over_http);
  }
  workers.emplace_back(increment_with_cli);
  for (auto& worker : workers) {
    worker.join();
  }
  REQUIRE_FALSE(failed);
  CHECK(successes == (threads + 1) * increments);
  const VersionRecord head = d.service.get({"test", "check"}, {"counter"});
  CHECK(head.version == static_cast<std::uint64_t>(successes.load()));
  CHECK(Json::parse(head.data)["counter"] == successes.load());
  CHECK(d.service.verify({"test", "check"}).ok());
}

TEST_CASE("http: `zsimem serve` starts the daemon and stops cleanly on SIGTERM", "[http][serve]") {
  testing::TempDir dir;
  int err_pipe[2];
  REQUIRE(pipe(err_pipe) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[0]);
    const std::string data_dir = dir.path().string();
    execl(ZSIMEM_BINARY, ZSIMEM_BINARY, "--data-dir", data_dir.c_str(), "serve", "--listen", "127.0.0.1:0",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err_pipe[1]);
  // The first line names the address, with the port the kernel chose.
  std::string line;
  char c = 0;
  while (read(err_pipe[0], &c, 1) == 1 && c != '\n') {
    line += c;
  }
  INFO(line);
  const auto colon = line.rfind(':');
  const auto slash = line.find('/', colon);
  REQUIRE(colon != std::string::npos);
  const int port = std::stoi(line.substr(colon + 1, slash - colon - 1));
  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  close(err_pipe[0]);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("http: /metrics counts requests, latency, store operations, versions and conflicts", "[http][metrics]") {
  Daemon d("sqlite");
  auto client = d.client();
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 1}}}});
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 2}}}});
  post_json(client, k_memory + "/u", Json{{"user_id", "u"}, {"delta", {{"a", 3}}}}, {{"If-Match", "\"1\""}});
  client.Get((k_memory + "/u").c_str());
  client.Get("/nowhere");
  d.service.audit_log({}, {}); // writes the buffered audit records of the refused merge and the read
  // A request is counted after its response is written (httplib's logger),
  // and each of these came on a connection of its own: the last ones may
  // reach the counts just after their client had the answer.
  const auto counted = [](const std::string& text) {
    return text.find(R"(zsimem_http_requests_total{route="unmatched",method="GET",status="404"} 1)") !=
               std::string::npos &&
           text.find(R"(zsimem_http_request_duration_seconds_count{route="/api/v1/memory/{user_id}"} 4)") !=
               std::string::npos;
  };
  auto result = client.Get("/metrics");
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       result && !counted(result->body) && std::chrono::steady_clock::now() < deadline;) {
    result = client.Get("/metrics");
  }
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK_THAT(result->get_header_value("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
  const std::string& text = result->body;
  CHECK_THAT(text, Catch::Contains(
                       R"(zsimem_http_requests_total{route="/api/v1/memory/{user_id}",method="POST",status="200"} 2)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(zsimem_http_requests_total{route="/api/v1/memory/{user_id}",method="POST",status="412"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(zsimem_http_requests_total{route="unmatched",method="GET",status="404"} 1)"));
  CHECK_THAT(text,
             Catch::Contains(R"(zsimem_http_request_duration_seconds_count{route="/api/v1/memory/{user_id}"} 4)"));
  CHECK_THAT(text,
             Catch::Contains(R"(zsimem_store_operation_duration_seconds_bucket{operation="append",le="+Inf"} 2)"));
  CHECK_THAT(text, Catch::Contains("zsimem_versions_written_total 2\n"));
  CHECK_THAT(text, Catch::Contains("zsimem_conflicts_total 1\n"));
  // One request at a time: each write (2 versions, then the reads' audit
  // records, in one batch or two) committed on its own.
  const auto counter = [&](const std::string& name) {
    const auto at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stoi(text.substr(at + name.size() + 2));
  };
  CHECK(counter("zsimem_store_transactions_total") >= 3);
  CHECK(counter("zsimem_store_transactions_total") == counter("zsimem_store_writes_total"));
  CHECK_THAT(text, Catch::Contains("# TYPE zsimem_http_request_duration_seconds histogram"));
}

TEST_CASE("http: a batch reports every read and update separately", "[http][batch]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  auto client = d.client();
  post_json(client, k_memory + "/a", Json{{"user_id", "a"}, {"delta", {{"x", 1}}}});
  const Json batch = body_of(post_json(
      client, k_memory + "/batch",
      Json{
          {"updates",
           {Json{{"user_id", "a"}, {"delta", {{"x", 2}}}}, Json{{"user_id", "b"}, {"delta", {1}}},
            Json{{"user_id", "a"}, {"delta", {{"x", 3}}}, {"expected_version", "1"}}}},
          {"reads", {Json{{"user_id", "a"}}, Json{{"user_id", "a"}, {"version", "1"}}, Json{{"user_id", "nobody"}}}}}));
  REQUIRE(batch["updates"].size() == 3);
  CHECK(batch["updates"][0]["status"] == 200);
  CHECK(batch["updates"][0]["context"]["version"] == "2");
  CHECK(batch["updates"][1]["status"] == 422);
  CHECK(batch["updates"][2]["status"] == 409);
  CHECK(batch["updates"][2]["detail"]["current_version"] == "2");
  REQUIRE(batch["reads"].size() == 3);
  CHECK(batch["reads"][0]["context"]["data"]["x"] == 2); // reads see the batch's writes
  CHECK(batch["reads"][1]["context"]["data"]["x"] == 1);
  CHECK(batch["reads"][2]["status"] == 404);

  SECTION("atomic batches fail as a whole and, on atomic backends, write nothing") {
    auto failed = post_json(client, k_memory + "/batch",
                            Json{{"atomic", true},
                                 {"updates",
                                  {Json{{"user_id", "a"}, {"delta", {{"x", 9}}}},
                                   Json{{"user_id", "a"}, {"delta", {{"y", 1}}}, {"expected_version", "9"}}}}});
    REQUIRE(failed);
    CHECK(failed->status == 409);
    if (d.service.store().supports_atomic_batches()) {
      CHECK(body_of(client.Get((k_memory + "/a").c_str()))["data"]["x"] == 2);
    }
    auto ok = post_json(
        client, k_memory + "/batch",
        Json{{"atomic", true},
             {"updates",
              {Json{{"user_id", "c"}, {"delta", {{"n", 1}}}}, Json{{"user_id", "c"}, {"delta", {{"n", 2}}}}}}});
    CHECK(body_of(ok)["updates"][1]["context"]["version"] == "2");
  }
  CHECK(client.Get((k_memory + "/batch").c_str())->status == 405);
}

TEST_CASE("http: summary of a known history, the same from the CLI, reproducible as of a time", "[http][summary]") {
  Daemon d("sqlite");
  auto client = d.client();
  // Ten days of weighings at 08:00 from Sunday 2026-03-01, 80 kg losing 0.5
  // a day, the goal stored in the context; a note each evening is no sample.
  const Timestamp start = parse_time("2026-03-01T08:00:00Z");
  std::vector<std::pair<Timestamp, std::string>> writes{
      {start - std::chrono::hours(1), R"({"goals": {"weight": 75}})"}};
  for (int day = 0; day < 10; ++day) {
    const Timestamp morning = start + std::chrono::days(day);
    writes.emplace_back(morning, R"({"weight": )" + std::to_string(80 - 0.5 * day) + "}");
    writes.emplace_back(morning + std::chrono::hours(12), R"({"note": "day )" + std::to_string(day) + "\"}");
  }
  const auto history = testing::make_history({"alice", "health"}, writes);
  d.service.import_versions({"importer", "import-1"}, history);

  const std::string path = k_memory + "/alice/summary?namespace=health&field=/weight&bucket=week";
  const Json summary = body_of(client.Get(path.c_str()));
  CHECK(summary["versions"] == 21);
  CHECK(summary["bucket"] == "week");
  const Json& weight = summary["fields"][0];
  CHECK(weight["field"] == "/weight");
  CHECK(weight["count"] == 10);
  CHECK(weight["first"] == 80);
  CHECK(weight["last"] == 75.5);
  CHECK(weight["min"] == 75.5);
  CHECK(weight["max"] == 80);
  CHECK(weight["mean"].get<double>() == Catch::Detail::Approx(77.75));
  CHECK(weight["change"].get<double>() == Catch::Detail::Approx(-4.5));
  CHECK(weight["first_at"] == "2026-03-01T08:00:00.000000Z");
  CHECK(weight["trend"]["slope_per_day"].get<double>() == Catch::Detail::Approx(-0.5));
  CHECK(weight["trend"]["intercept"].get<double>() == Catch::Detail::Approx(80));
  // ISO weeks: Sunday 1 March ends W09; W10 is 2 to 8 March; W11 starts 9 March.
  const Json& buckets = weight["buckets"];
  REQUIRE(buckets.size() == 3);
  CHECK(buckets[0]["label"] == "2026-W09");
  CHECK(buckets[0]["count"] == 1);
  CHECK(buckets[1]["label"] == "2026-W10");
  CHECK(buckets[1]["start"] == "2026-03-02T00:00:00.000000Z");
  CHECK(buckets[1]["count"] == 7);
  CHECK(buckets[1]["mean"] == 78); // 79.5 … 76.5
  CHECK(buckets[2]["count"] == 2);
  CHECK(buckets[2]["mean"] == 75.75);
  CHECK(weight["goal"]["source"] == "context");
  CHECK(weight["goal"]["target"] == 75);
  CHECK(weight["goal"]["progress"].get<double>() == Catch::Detail::Approx(0.9));
  CHECK(weight["goal"]["outlook"] == "on current trend");
  CHECK(weight["goal"]["forecast"] == "2026-03-11T08:00:00.000000Z");

  // A window as of a past time: the four weighings of 2 to 5 March.
  const std::string as_of = path + "&window=3d&as_of=2026-03-05T08:00:00Z&goal=/weight:70";
  const Json past = body_of(client.Get(as_of.c_str()));
  CHECK(past["since"] == "2026-03-02T08:00:00.000000Z");
  CHECK(past["until"] == "2026-03-05T08:00:00.000000Z");
  CHECK(past["fields"][0]["count"] == 4);
  CHECK(past["fields"][0]["first"] == 79.5);
  CHECK(past["fields"][0]["goal"]["source"] == "request");
  CHECK(past["fields"][0]["goal"]["forecast"] == "2026-03-21T08:00:00.000000Z"); // 8 kg at 0.5 a day
  // Later writes change nothing as of that time.
  post_json(client, k_memory + "/alice?namespace=health", Json{{"user_id", "alice"}, {"delta", {{"weight", 60}}}});
  CHECK(body_of(client.Get(as_of.c_str())) == past);

  // The CLI gives the same JSON from the same store, and text with a sparkline.
  const std::vector<std::string> cli{ZSIMEM_BINARY, "--backend", "sqlite", "--data-dir", d.dir.path().string(),
                                     "summary",     "alice",     "-n",     "health",     "-f",
                                     "/weight",     "--window",  "3d",     "--as-of",    "2026-03-05T08:00:00Z",
                                     "--goal",      "/weight:70"};
  std::vector<std::string> json_args = cli;
  json_args.insert(json_args.end(), {"-o", "json"});
  const auto from_cli = testing::run_process(json_args);
  INFO(from_cli.err);
  REQUIRE(from_cli.exit_code == 0);
  CHECK(Json::parse(from_cli.out) == past);
  std::vector<std::string> text_args = cli;
  text_args.insert(text_args.end(), {"-o", "text", "--bucket", "day"});
  const auto text = testing::run_process(text_args);
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("/weight: 4 samples, 79.5 → 78 (-1.5)"));
  CHECK_THAT(text.out, Catch::Contains("█▆▃▁  daily means, 2026-03-02 to 2026-03-05"));
  CHECK_THAT(text.out, Catch::Contains("on current trend by 2026-03-21"));

  // Bad queries are 422s naming the parameter; an unknown user is a 404.
  const auto status_of = [&](const std::string& query) {
    const auto result = client.Get((k_memory + "/alice/summary?namespace=health&" + query).c_str());
    REQUIRE(result);
    return std::pair{result->status, Json::parse(result->body)};
  };
  for (const auto& [query, parameter] :
       std::vector<std::pair<std::string, std::string>>{{"bucket=week", "field"},
                                                        {"field=weight", "field"},
                                                        {"field=/weight&bucket=fortnight", "bucket"},
                                                        {"field=/weight&goal=/weight", "goal"},
                                                        {"field=/weight&goal=/steps:3", "goal"},
                                                        {"field=/weight&window=7x", "window"},
                                                        {"field=/weight&window=7d&since=2026-03-01", "window"},
                                                        {"field=/weight&since=2026-03-05&until=2026-03-01", "since"},
                                                        {"field=/weight&as_of=yesterday", "as_of"}}) {
    INFO(query);
    const auto [status, body] = status_of(query);
    CHECK(status == 422);
    CHECK(body["detail"][0]["loc"] == Json::array({"query", parameter}));
  }
  const auto unknown = client.Get((k_memory + "/bob/summary?field=/weight").c_str());
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
}

TEST_CASE("http: GET {P}/features reports what is on, and a switched-off summary is a 501", "[http][features]") {
  ServiceOptions off;
  off.features.summaries = false;
  Daemon d("sqlite", Daemon::default_options(), off);
  auto client = d.client();
  CHECK(body_of(client.Get("/api/v1/features")) ==
        Json{{"hooks", true}, {"read_audit", true}, {"retention", true}, {"summaries", false}, {"versioning", true}});
  post_json(client, k_memory + "/alice", Json{{"user_id", "alice"}, {"delta", {{"weight", 80}}}});
  const auto refused = client.Get((k_memory + "/alice/summary?field=/weight").c_str());
  REQUIRE(refused);
  CHECK(refused->status == 501);
  CHECK_THAT(Json::parse(refused->body)["detail"].get<std::string>(), Catch::Contains("summaries are switched off"));

  Daemon on("sqlite");
  auto on_client = on.client();
  CHECK(body_of(on_client.Get("/api/v1/features")) ==
        Json{{"hooks", true}, {"read_audit", true}, {"retention", true}, {"summaries", true}, {"versioning", true}});
}
