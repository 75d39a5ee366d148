// The peer of bench/http_vs_peers' GET row: a cpp-httplib server with the
// daemon's transport settings (TCP_NODELAY, a 16-thread pool, long
// keep-alive) that answers every GET with one fixed body and does nothing
// else: no routing beyond one pattern, no store, no logging.
//
// Usage: bare_httplib_server HOST PORT BODY_FILE
//   PORT 0 picks a free port. Prints "listening on PORT" on standard output
//   once bound, then serves until SIGTERM or SIGINT.
#include <httplib.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pthread.h>
#include <sstream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: bare_httplib_server HOST PORT BODY_FILE\n";
    return 2;
  }
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string host = argv[1];
  const int port = std::atoi(argv[2]);
  std::ifstream in(argv[3], std::ios::binary);
  if (!in) {
    std::cerr << "bare_httplib_server: cannot read " << argv[3] << "\n";
    return 2;
  }
  std::ostringstream body_stream;
  body_stream << in.rdbuf();
  const std::string body = body_stream.str();

  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(10000);
  server.new_task_queue = [] { return new httplib::ThreadPool(16); };
  server.Get(R"(/.*)",
             [&body](const httplib::Request&, httplib::Response& res) { res.set_content(body, "application/json"); });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    std::cerr << "bare_httplib_server: cannot listen on " << host << ":" << port << "\n";
    return 1;
  }
  std::cout << "listening on " << bound << std::endl;
  std::thread waiter([&server, &stop_signals] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
  });
  waiter.detach();
  server.listen_after_bind();
  return 0;
}
