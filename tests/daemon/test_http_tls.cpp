// HTTPS: `zsimem serve --tls-cert --tls-key` with a CA and certificates
// made at test time by the openssl tool, clients that verify them, and the
// connection guards (timeouts, limits) holding over TLS as over plain HTTP.

#include "http_server.hpp"
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <optional>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace zsimem;
using Catch::Contains;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

const std::string k_memory = "/api/v1/memory";
// The in-process daemon's read timeout (TestDaemon's), and the slack on top
// of it before a stalled client counts as not dropped.
constexpr milliseconds k_read_timeout{2000};
constexpr milliseconds k_drop_slack{1000};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  const auto result = testing::run_process(args, {}, {}, 30s);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
}

// A self-signed CA with its key, in `dir` as NAME.pem and NAME.key.
void make_ca(const std::filesystem::path& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
           (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(), "-days", "2", "-subj",
           "/CN=zsimem test " + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"});
}

// The test's PKI: a CA, a server certificate it issued for 127.0.0.1 and
// localhost, and a second CA that issued nothing the daemon uses.
struct Pki {
  explicit Pki(const std::filesystem::path& at) : dir(at / "pki") {
    std::filesystem::create_directories(dir);
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             server_key.string(), "-out", (dir / "server.csr").string(), "-subj", "/CN=localhost"});
    std::ofstream(dir / "server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                         "basicConstraints=critical,CA:FALSE\n"
                                         "keyUsage=critical,digitalSignature\n"
                                         "extendedKeyUsage=serverAuth\n";
    openssl({"x509", "-req", "-in", (dir / "server.csr").string(), "-CA", ca_cert.string(), "-CAkey",
             (dir / "ca.key").string(), "-set_serial", "1", "-days", "2", "-extfile", (dir / "server.ext").string(),
             "-out", server_cert.string()});
  }

  std::filesystem::path dir;
  std::filesystem::path ca_cert = dir / "ca.pem";
  std::filesystem::path server_cert = dir / "server.pem";
  std::filesystem::path server_key = dir / "server.key";
  std::filesystem::path other_ca_cert = dir / "other-ca.pem";
  std::filesystem::path other_key = dir / "other-ca.key"; // not the server certificate's
};

// A client of https://127.0.0.1:PORT that verifies the daemon's certificate
// and name; against `ca`, or the system's CAs when it is empty.
httplib::Client https_client(int port, const std::filesystem::path& ca) {
  httplib::Client client("https://127.0.0.1:" + std::to_string(port));
  client.enable_server_certificate_verification(true);
  if (!ca.empty()) {
    client.set_ca_cert_path(ca.string());
  }
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  return client;
}

Json body_of(const httplib::Result& result, int status) {
  REQUIRE(result);
  INFO(result->body);
  CHECK(result->status == status);
  return Json::parse(result->body, nullptr, false);
}

Json merge_body(const std::string& user, const Json& delta) { return {{"user_id", user}, {"delta", delta}}; }

// A TCP connection to 127.0.0.1:port.
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr) == 1);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// How long until the server closes `fd` (reading and dropping what it
// sends), or nothing when it is still open after `limit`.
std::optional<milliseconds> time_to_close(int fd, milliseconds limit, std::string* received = nullptr) {
  const auto start = Clock::now();
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(start + limit - Clock::now());
    if (left <= 0ms) {
      return std::nullopt;
    }
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    }
    if (received != nullptr) {
      received->append(buffer, static_cast<std::size_t>(got));
    }
  }
}

// A TLS connection written byte for byte, for what httplib's client will
// not do: stall, pipeline, hold a connection open. Verifies the daemon.
class RawTlsConnection {
public:
  RawTlsConnection(int port, const std::filesystem::path& ca)
      : m_ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free), m_ssl(nullptr, &SSL_free), m_fd(connect_to(port)) {
    REQUIRE(m_ctx);
    REQUIRE(SSL_CTX_load_verify_locations(m_ctx.get(), ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(m_ctx.get(), SSL_VERIFY_PEER, nullptr);
    const timeval timeout{5, 0}; // no test waits longer for one read or write
    ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    m_ssl.reset(SSL_new(m_ctx.get()));
    REQUIRE(m_ssl);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(m_ssl.get()), "127.0.0.1");
    SSL_set_fd(m_ssl.get(), m_fd);
    REQUIRE(SSL_connect(m_ssl.get()) == 1);
  }
  ~RawTlsConnection() { ::close(m_fd); }
  RawTlsConnection(const RawTlsConnection&) = delete;
  RawTlsConnection& operator=(const RawTlsConnection&) = delete;

  bool send(std::string_view bytes) {
    return SSL_write(m_ssl.get(), bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
  }

  // Reads until `enough` holds for what came, the server closes, or `limit`
  // passes; what came.
  template <typename Enough> std::string read_until(Enough&& enough, milliseconds limit) {
    std::string received;
    const auto until = Clock::now() + limit;
    while (!enough(received) && !m_closed && Clock::now() < until) {
      char buffer[4096];
      const int got = SSL_read(m_ssl.get(), buffer, sizeof buffer);
      if (got > 0) {
        received.append(buffer, static_cast<std::size_t>(got));
      } else if (SSL_get_error(m_ssl.get(), got) != SSL_ERROR_WANT_READ) {
        m_closed = true; // close_notify, EOF or reset
      }
    }
    return received;
  }

  [[nodiscard]] bool closed() const { return m_closed; }

private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> m_ctx;
  std::unique_ptr<SSL, decltype(&SSL_free)> m_ssl;
  int m_fd;
  bool m_closed = false;
};

std::size_t count_of(std::string_view text, std::string_view part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string_view::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

// `zsimem serve` over HTTPS with the test's certificate.
testing::ServeProcess serve_https(const testing::TempDir& dir, const Pki& pki) {
  testing::ServeProcess::Options options("json", dir.path() / "data", dir.path() / "serve.log");
  options.args = {"--tls-cert", pki.server_cert.string(), "--tls-key", pki.server_key.string()};
  return testing::ServeProcess(std::move(options));
}

// The in-process daemon over HTTPS, for the guards' timing.
struct TlsDaemon : testing::TestDaemon {
  static daemon::ServerOptions options(const Pki& pki) {
    daemon::ServerOptions options = default_options();
    options.tls_cert_file = pki.server_cert.string();
    options.tls_key_file = pki.server_key.string();
    return options;
  }
  TlsDaemon(const Pki& pki, daemon::ServerOptions with) : TestDaemon("json", std::move(with)), ca(pki.ca_cert) {}
  explicit TlsDaemon(const Pki& pki) : TlsDaemon(pki, options(pki)) {}

  [[nodiscard]] httplib::Client client() const { return https_client(port, ca); }

  std::filesystem::path ca;
};

} // namespace

TEST_CASE("https: serve --tls-cert --tls-key answers merges, reads and /healthz over TLS", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const auto daemon = serve_https(dir, pki);
  CHECK_THAT(read_text(dir.path() / "serve.log"), Contains("listening on https://127.0.0.1:"));

  auto client = https_client(daemon.port(), pki.ca_cert);
  CHECK(body_of(client.Get("/healthz"), 200) == Json{{"status", "ok"}});
  const std::string alice = k_memory + "/alice";
  CHECK(body_of(client.Post(alice.c_str(), merge_body("alice", {{"kcal", 1800}}).dump(), "application/json"),
                200)["version"] == "1");
  const Json context = body_of(client.Get(alice.c_str()), 200);
  CHECK(context["version"] == "1");
  CHECK(context["data"] == Json{{"kcal", 1800}});

  SECTION("TLS 1.2 is accepted, older versions are not") {
    for (const int version : {TLS1_2_VERSION, TLS1_1_VERSION, TLS1_VERSION}) {
      INFO("client capped at " << std::hex << version);
      auto capped = https_client(daemon.port(), pki.ca_cert);
      // Level 0 lets the client offer what its defaults would refuse, so
      // that the refusal is the daemon's.
      SSL_CTX_set_security_level(capped.ssl_context(), 0);
      SSL_CTX_set_cipher_list(capped.ssl_context(), "DEFAULT@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(capped.ssl_context(), version);
      SSL_CTX_set_max_proto_version(capped.ssl_context(), version);
      const auto result = capped.Get("/healthz");
      if (version == TLS1_2_VERSION) {
        CHECK(body_of(result, 200) == Json{{"status", "ok"}});
      } else {
        CHECK(result.error() == httplib::Error::SSLConnection);
      }
    }
  }
  SECTION("large bodies cross in many records, keep-alive carries many requests") {
    client.set_keep_alive(true);
    Json big = Json::object();
    for (int i = 0; i < 2000; ++i) {
      big["key" + std::to_string(i)] = std::string(40, static_cast<char>('a' + i % 26));
    }
    CHECK(body_of(client.Post(alice.c_str(), merge_body("alice", big).dump(), "application/json"), 200)["version"] ==
          "2");
    for (int i = 0; i < 20; ++i) {
      CHECK(body_of(client.Get(alice.c_str()), 200)["data"]["key1999"] == big["key1999"]);
    }
  }
}

TEST_CASE("https: ZSIMEM_TLS_CERT and ZSIMEM_TLS_KEY stand for the flags", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  testing::ServeProcess::Options options("json", dir.path() / "data", dir.path() / "serve.log");
  options.env = {"ZSIMEM_TLS_CERT=" + pki.server_cert.string(), "ZSIMEM_TLS_KEY=" + pki.server_key.string()};
  const testing::ServeProcess daemon(std::move(options));
  CHECK(body_of(https_client(daemon.port(), pki.ca_cert).Get("/healthz"), 200) == Json{{"status", "ok"}});
}

TEST_CASE("https: a client that does not trust the daemon's CA fails the handshake", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const auto daemon = serve_https(dir, pki);

  for (const auto& ca : {pki.other_ca_cert, std::filesystem::path()}) {
    INFO("trusting " << (ca.empty() ? "the system's CAs" : ca.string()));
    auto client = https_client(daemon.port(), ca);
    const auto result = client.Get("/healthz");
    CHECK_FALSE(result);
    CHECK(result.error() == httplib::Error::SSLServerVerification);
    CHECK(client.get_openssl_verify_result() == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  }
  // The daemon is none the worse for them.
  CHECK(body_of(https_client(daemon.port(), pki.ca_cert).Get("/healthz"), 200) == Json{{"status", "ok"}});
}

TEST_CASE("https: a plain HTTP request to the TLS port gets no HTTP answer", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const auto daemon = serve_https(dir, pki);

  httplib::Client plain("127.0.0.1", daemon.port());
  plain.set_read_timeout(5, 0);
  const auto result = plain.Get("/healthz");
  CHECK_FALSE(result);

  const int fd = connect_to(daemon.port());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string received;
  const auto closed_after = time_to_close(fd, 5s, &received);
  ::close(fd);
  CHECK(closed_after.has_value()); // at once, not after a timeout
  CHECK(closed_after.value_or(5s) < 1s);
  CHECK(received.find("HTTP/") == std::string::npos);

  CHECK(body_of(https_client(daemon.port(), pki.ca_cert).Get("/healthz"), 200) == Json{{"status", "ok"}});
}

TEST_CASE("https: serve refuses TLS files it cannot use, before it listens", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const std::filesystem::path encrypted_key = pki.dir / "encrypted.key";
  openssl(
      {"pkey", "-in", pki.server_key.string(), "-aes256", "-passout", "pass:secret", "-out", encrypted_key.string()});
  const std::string missing = (dir.path() / "missing.pem").string();
  const std::string cert = pki.server_cert.string();
  const std::string key = pki.server_key.string();

  struct Row {
    std::string what;
    std::vector<std::string> args;
    std::vector<std::string> env;
    int exit_code;
    std::vector<std::string> said;
  };
  const std::vector<Row> rows{
      {"a certificate without a key", {"--tls-cert", cert}, {}, 2, {"--tls-cert requires --tls-key"}},
      {"a key without a certificate", {"--tls-key", key}, {}, 2, {"--tls-key requires --tls-cert"}},
      {"ZSIMEM_TLS_KEY without a certificate", {}, {"ZSIMEM_TLS_KEY=" + key}, 2, {"--tls-key requires --tls-cert"}},
      {"a missing certificate",
       {"--tls-cert", missing, "--tls-key", key},
       {},
       5,
       {"--tls-cert: '" + missing + "' cannot be read: No such file or directory"}},
      {"a missing key",
       {"--tls-cert", cert, "--tls-key", missing},
       {},
       5,
       {"--tls-key: '" + missing + "' cannot be read: No such file or directory"}},
      {"a key given as the certificate",
       {"--tls-cert", key, "--tls-key", key},
       {},
       5,
       {"--tls-cert: '" + key + "' holds no usable certificate in PEM form"}},
      {"the key of another certificate",
       {"--tls-cert", cert, "--tls-key", pki.other_key.string()},
       {},
       5,
       {"--tls-key: '" + pki.other_key.string() + "' is not the key of the certificate in '" + cert + "'"}},
      {"an encrypted key",
       {"--tls-cert", cert, "--tls-key", encrypted_key.string()},
       {},
       5,
       {"--tls-key: '" + encrypted_key.string() + "' holds no unencrypted private key in PEM form"}},
  };
  for (const auto& row : rows) {
    INFO(row.what);
    std::vector<std::string> argv{
        ZSIMEM_BINARY, "--backend", "json",       "--data-dir", (dir.path() / "data").string(),
        "serve",       "--listen",  "127.0.0.1:0"};
    argv.insert(argv.end(), row.args.begin(), row.args.end());
    std::vector<std::string> env{"ZSIMEM_TLS_CERT", "ZSIMEM_TLS_KEY"}; // only the row's
    env.insert(env.end(), row.env.begin(), row.env.end());
    const auto result = testing::run_process(argv, {}, env, 20s);
    INFO(result.err);
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == row.exit_code);
    for (const auto& part : row.said) {
      CHECK_THAT(result.err, Contains(part));
    }
    CHECK_THAT(result.err, !Contains("listening on"));
  }
}

TEST_CASE("https: a stalled handshake or request is dropped within the read timeout", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const TlsDaemon d(pki);

  const auto start = Clock::now();
  const int silent = connect_to(d.port); // never says hello
  RawTlsConnection half_head(d.port, d.ca);
  REQUIRE(half_head.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  RawTlsConnection trickled(d.port, d.ca);
  REQUIRE(trickled.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  // Meanwhile others are served at once.
  for (int i = 0; i < 5; ++i) {
    const auto asked = Clock::now();
    CHECK(body_of(d.client().Get("/healthz"), 200) == Json{{"status", "ok"}});
    CHECK(Clock::now() - asked < 1s);
    REQUIRE(trickled.send("a")); // a byte every 200 ms: slowloris
    std::this_thread::sleep_for(200ms);
  }
  const auto limit = k_read_timeout + k_drop_slack;
  const bool silent_closed = time_to_close(silent, limit).has_value();
  const auto silent_took = Clock::now() - start;
  ::close(silent);
  CHECK(silent_closed);
  CHECK(silent_took >= k_read_timeout - 500ms);
  CHECK(silent_took <= k_read_timeout + k_drop_slack);

  for (auto* connection : {&half_head, &trickled}) {
    const std::string answer = connection->read_until([](const std::string&) { return false; }, limit);
    const auto took = Clock::now() - start;
    INFO(answer);
    CHECK(connection->closed());
    CHECK(took >= k_read_timeout - 500ms);
    CHECK(took <= k_read_timeout + k_drop_slack);
    CHECK(answer.starts_with("HTTP/1.1 408 "));
  }
}

TEST_CASE("https: limits and pipelining hold over TLS as over HTTP", "[http][tls]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());

  SECTION("a body over the limit is answered 413") {
    const TlsDaemon d(pki);
    const std::string over(100 * 1024, ' ');
    const auto result = d.client().Post((k_memory + "/alice").c_str(), over, "application/json");
    CHECK(body_of(result, 413)["detail"].get<std::string>().find("over the limit") != std::string::npos);
  }
  SECTION("requests sent together are answered in order on one connection") {
    const TlsDaemon d(pki);
    RawTlsConnection connection(d.port, d.ca);
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(connection.send(request + request + request));
    const std::string answers = connection.read_until(
        [](const std::string& received) { return count_of(received, "{\"status\":\"ok\"}") == 3; }, 5s);
    CHECK(count_of(answers, "HTTP/1.1 200 OK") == 3);
    CHECK_FALSE(connection.closed());
  }
  SECTION("a connection over max_connections is answered 503 over TLS") {
    daemon::ServerOptions options = TlsDaemon::options(pki);
    options.threads = 1;
    options.max_connections = 1;
    const TlsDaemon d(pki, options);
    const RawTlsConnection held(d.port, d.ca);
    std::this_thread::sleep_for(100ms);
    const auto result = d.client().Get("/healthz");
    CHECK(body_of(result, 503)["detail"].get<std::string>().find("too many connections") != std::string::npos);
    CHECK(result->get_header_value("Retry-After") == "1");
  }
}

TEST_CASE("https: zsimem watch --url https://... --ca-file follows a context", "[http][tls][events][cli]") {
  const testing::TempDir dir;
  const Pki pki(dir.path());
  const auto daemon = serve_https(dir, pki);
  const std::string url = "https://127.0.0.1:" + std::to_string(daemon.port());
  auto client = https_client(daemon.port(), pki.ca_cert);
  REQUIRE(body_of(client.Post((k_memory + "/gina").c_str(), merge_body("gina", {{"mood", "calm"}}).dump(),
                              "application/json"),
                  200)["version"] == "1");

  const std::vector<std::string> watch{ZSIMEM_BINARY, "-o",      "json", "watch",   "gina", "--url",
                                       url,           "--after", "0",    "--count", "1"};
  SECTION("with --ca-file") {
    auto argv = watch;
    argv.insert(argv.end(), {"--ca-file", pki.ca_cert.string()});
    const auto watched = testing::run_process(argv, {}, {"ZSIMEM_CA_FILE"}, 20s);
    INFO(watched.err);
    REQUIRE(watched.exit_code == 0);
    const Json version = Json::parse(watched.out, nullptr, false);
    CHECK(version["version"] == "1");
    CHECK(version["data"] == Json{{"mood", "calm"}});
  }
  SECTION("with ZSIMEM_CA_FILE") {
    const auto watched = testing::run_process(watch, {}, {"ZSIMEM_CA_FILE=" + pki.ca_cert.string()}, 20s);
    INFO(watched.err);
    CHECK(watched.exit_code == 0);
    CHECK(Json::parse(watched.out, nullptr, false)["version"] == "1");
  }
  SECTION("without the CA: not trusted, said so") {
    const auto refused = testing::run_process(watch, {}, {"ZSIMEM_CA_FILE"}, 20s);
    CHECK(refused.exit_code == 7);
    CHECK_THAT(refused.err, Contains("certificate is not trusted"));
    CHECK_THAT(refused.err, Contains("--ca-file"));
  }
  SECTION("an unreadable CA file") {
    auto argv = watch;
    argv.insert(argv.end(), {"--ca-file", (dir.path() / "missing.pem").string()});
    const auto refused = testing::run_process(argv, {}, {"ZSIMEM_CA_FILE"}, 20s);
    CHECK(refused.exit_code == 5);
    CHECK_THAT(refused.err, Contains("--ca-file: '" + (dir.path() / "missing.pem").string() + "' cannot be read"));
  }
}
