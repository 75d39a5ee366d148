#pragma once

#include "support/temp_dir.hpp"

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace zsimem::testing {

// A dynalite server (a DynamoDB implementation in Node.js, tests/dynamo/) on
// a free loopback port, in memory, for as long as this object lives.
// `npm ci --prefix tests/dynamo` installs it (scripts/test does).
class Dynalite {
public:
  // Starts `node tests/dynamo/node_modules/dynalite/cli.js` in its own
  // process group and waits (up to 15 s) until it accepts connections;
  // throws std::runtime_error naming the npm command when dynalite is not
  // installed, and with its output when it does not start.
  Dynalite();
  // Kills its whole process group and reaps it.
  ~Dynalite();
  Dynalite(const Dynalite&) = delete;
  Dynalite& operator=(const Dynalite&) = delete;

  int port() const { return m_port; }
  // "http://127.0.0.1:PORT", for DynamoSettings::endpoint.
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
  void stop();

  pid_t m_pid = -1;
  int m_port = 0;
  TempDir m_dir; // holds its log
};

} // namespace zsimem::testing
