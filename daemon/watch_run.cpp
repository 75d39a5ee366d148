#include "daemon_commands.hpp"
#include "http_errors.hpp"
#include "render.hpp"
#include "session.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/validate.hpp>

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

namespace zsimem::cli {
namespace {

// One Server-Sent Event.
struct ServerEvent {
  std::string name = "message";
  std::string id;
  std::string data;
};

// Splits an event stream into events as its bytes arrive (the HTML
// standard's parsing rules, minus what this API never sends).
class EventStreamParser {
public:
  template <typename OnEvent> void feed(std::string_view bytes, OnEvent&& on_event) {
    m_pending.append(bytes);
    std::size_t start = 0;
    for (std::size_t end; (end = m_pending.find('\n', start)) != std::string::npos; start = end + 1) {
      std::string_view line(m_pending.data() + start, end - start);
      if (line.ends_with('\r')) {
        line.remove_suffix(1);
      }
      if (line.empty()) {
        if (m_has_data) {
          on_event(m_event);
        }
        m_event = {};
        m_has_data = false;
        continue;
      }
      const auto colon = line.find(':');
      const std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
      if (value.starts_with(' ')) {
        value.remove_prefix(1);
      }
      if (field == "event") {
        m_event.name = value;
      } else if (field == "id") {
        m_event.id = value;
      } else if (field == "data") {
        m_event.data += (m_has_data ? "\n" : "");
        m_event.data += value;
        m_has_data = true;
      } // comments (empty field) and retry are ignored
    }
    m_pending.erase(0, start);
  }

private:
  std::string m_pending;
  ServerEvent m_event;
  bool m_has_data = false;
};

std::string percent_encoded(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += k_hex[byte >> 4];
      out += k_hex[byte & 15];
    }
  }
  return out;
}

class Watcher {
public:
  Watcher(Session& session, const WatchArgs& args) : m_session(session), m_args(args) {
    validate_user_id(args.user_id, "user");
    validate_namespace(args.ns, "--namespace");
    if (!args.after.empty()) {
      m_last = args.after == "0" ? 0 : parse_version(args.after, "--after");
      m_resume = true;
    }
    m_token = session.bearer_token();
    // A line break would end the header early and start another.
    if (m_token && std::ranges::any_of(*m_token, [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); })) {
      throw Error(ErrorCode::unauthenticated,
                  "the bearer token of " + token_source() + " holds control characters, which no header can carry",
                  "--token-file");
    }
  }

  // Follows the stream, reconnecting after the first connection succeeded,
  // until --count versions were printed.
  void run() {
    const Error bad_url(ErrorCode::invalid, "--url: '" + m_args.url + "' is not a URL such as http://127.0.0.1:8080",
                        "--url");
    if (!m_args.url.starts_with("http://") && !m_args.url.starts_with("https://")) {
      throw bad_url; // httplib would throw std::invalid_argument
    }
    httplib::Client client(m_args.url);
    if (!client.is_valid()) {
      throw bad_url;
    }
    if (m_args.url.starts_with("https://")) {
      trust(client);
    }
    client.set_tcp_nodelay(true);
    client.set_connection_timeout(5, 0);
    // The server sends a comment every 15 s: silence this long means the
    // connection is dead even if no FIN arrived.
    client.set_read_timeout(60, 0);
    const std::string path = m_args.api_prefix + "/memory/" + percent_encoded(m_args.user_id) +
                             "/events?namespace=" + percent_encoded(m_args.ns);
    for (;;) {
      const auto result = follow_once(client, path);
      if (m_failure) {
        throw *m_failure;
      }
      if (done()) {
        return;
      }
      if (result == httplib::Error::Success && m_status != 200) {
        throw refusal();
      }
      if (!m_connected && result == httplib::Error::SSLLoadingCerts) {
        throw Error(ErrorCode::invalid, "--ca-file: '" + m_args.ca_file + "' holds no CA certificate in PEM form",
                    "--ca-file");
      }
      if (!m_connected && result == httplib::Error::SSLServerVerification) {
        throw Error(ErrorCode::unavailable,
                    "cannot follow " + m_args.url + ": its certificate is not trusted (" +
                        X509_verify_cert_error_string(client.get_openssl_verify_result()) +
                        "); give the CA that issued it with --ca-file",
                    "--ca-file");
      }
      if (!m_connected) {
        throw Error(ErrorCode::unavailable, "cannot follow " + m_args.url + path + ": the request failed (" +
                                                httplib::to_string(result) + " error)");
      }
      std::cerr << "zsimem: the event stream ended (" << httplib::to_string(result) << "); reconnecting after version "
                << m_last << std::endl;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

private:
  // Verifies the daemon's certificate and name, against --ca-file if given.
  void trust(httplib::Client& client) const {
    client.enable_server_certificate_verification(true);
    if (m_args.ca_file.empty()) {
      return; // the system's CAs
    }
    // httplib would only say that loading failed.
    if (std::FILE* file = std::fopen(m_args.ca_file.c_str(), "re")) {
      std::fclose(file);
    } else {
      throw Error(ErrorCode::invalid, "--ca-file: '" + m_args.ca_file + "' cannot be read: " + std::strerror(errno),
                  "--ca-file");
    }
    client.set_ca_cert_path(m_args.ca_file);
  }

  bool done() const { return m_args.count != 0 && m_printed >= m_args.count; }

  // Where the token came from, to name it in errors (never the token itself).
  std::string token_source() const {
    return m_session.options.token_file.empty() ? "ZSIMEM_TOKEN"
                                                : "--token-file '" + m_session.options.token_file + "'";
  }

  // `text` (from the daemon) with any copy of the token masked: the daemon
  // never quotes one, but a proxy in between might.
  std::string masked(std::string text) const {
    if (!m_token || m_token->size() < 4) {
      return text;
    }
    for (std::size_t at; (at = text.find(*m_token)) != std::string::npos;) {
      text.replace(at, m_token->size(), "[token]");
    }
    return text;
  }

  // The error an answer other than 200 means; 401 and 403 name the token.
  Error refusal() const {
    const std::string answered = "the daemon at " + m_args.url + " answered " + std::to_string(m_status) + ": " +
                                 masked(daemon::error_message(m_body));
    if (m_status == 401 && !m_token) {
      return Error(ErrorCode::unauthenticated,
                   answered + "; no bearer token was given: give one with --token-file FILE or ZSIMEM_TOKEN",
                   "--token-file");
    }
    if (m_status == 401) {
      return Error(ErrorCode::unauthenticated, answered + "; it refused the bearer token of " + token_source(),
                   "--token-file");
    }
    if (m_status == 403 && m_token) {
      return Error(ErrorCode::denied, answered + " (acting with the bearer token of " + token_source() + ")");
    }
    return Error(daemon::error_code_of_status(m_status), answered);
  }

  httplib::Error follow_once(httplib::Client& client, const std::string& path) {
    // Not m_session.caller(): that would check the token against a local
    // policy, where here the daemon checks it, on every (re)connection.
    httplib::Headers headers{{"Accept", "text/event-stream"}, {"X-Request-ID", m_session.request_id()}};
    if (m_token) {
      headers.emplace("Authorization", "Bearer " + *m_token);
    }
    if (m_resume) {
      headers.emplace("Last-Event-ID", version_string(m_last));
    }
    m_status = 0;
    m_body.clear();
    EventStreamParser parser;
    const auto result = client.Get(
        path, headers,
        [&](const httplib::Response& response) {
          m_status = response.status;
          m_connected = m_connected || response.status == 200;
          return true;
        },
        [&](const char* data, std::size_t length) {
          if (m_status != 200) {
            m_body.append(data, length);
            return m_body.size() < 64 * 1024;
          }
          try {
            parser.feed({data, length}, [&](const ServerEvent& event) { on_event(event); });
          } catch (const Error& error) {
            m_failure = error; // thrown once httplib has closed the connection
            return false;
          }
          return !done();
        });
    return result.error();
  }

  void on_event(const ServerEvent& event) {
    if (done()) {
      return;
    }
    const Json data = parse_json(event.data, "event data");
    if (event.name == "version") {
      const VersionRecord record = version_from_json(data);
      if (m_session.json_output()) {
        std::cout << data.dump() << std::endl;
      } else {
        std::cout << context_heading(record) << " · " << record.actor << "\n  " << record.delta << std::endl;
      }
      m_last = record.version;
      m_resume = true;
      ++m_printed;
    } else if (event.name == "erased") {
      if (m_session.json_output()) {
        std::cout << Json{{"erased", true}, {"user_id", m_args.user_id}, {"namespace", m_args.ns}}.dump() << std::endl;
      } else {
        std::cout << "erased: every version of '" << m_args.user_id << "' (namespace '" << m_args.ns << "')"
                  << std::endl;
      }
      m_last = 0;
      m_resume = true;
    } else if (event.name == "error") {
      throw Error(ErrorCode::unavailable,
                  "the daemon's event stream failed: " + masked(daemon::error_message(event.data)));
    }
  }

  Session& m_session;
  const WatchArgs& m_args;
  std::uint64_t m_last = 0;
  bool m_resume = false; // whether m_last is where to resume (else: the head)
  bool m_connected = false;
  int m_status = 0;
  std::string m_body; // an error response's body
  std::size_t m_printed = 0;
  std::optional<Error> m_failure;
  std::optional<std::string> m_token; // sent as a bearer token when given; never printed
};

} // namespace

int run_watch(Session& session, const WatchArgs& args) {
  Watcher(session, args).run();
  return 0;
}

} // namespace zsimem::cli
