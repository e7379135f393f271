// A real redis-server for tests of the redis backend: started on a free loopback port with
// persistence off, killed (SIGTERM, then waited for) on destruction.
//
//   FUNNEL_ASSIGN_OR_RETURN(auto redis, RedisServer::Start());
//   KvOptions o{.backend = "redis", .redis_host = redis->host(), .redis_port = redis->port()};
//
// Thread-safety: Command may be called from several threads; Start and destruction may not.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "funnel/core/status.h"

namespace funnel::testing {

class RedisServer {
 public:
  // Fails with a message naming scripts/setup.sh when redis-server is not installed, and with
  // the server's own output when it does not answer PING within a few seconds.
  static StatusOr<std::unique_ptr<RedisServer>> Start();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string host() const { return "127.0.0.1"; }
  int port() const { return port_; }

  // Runs one command on a fresh connection, for test set-up and inspection. The reply comes
  // back flattened: a string, status or integer as one element, an array as its elements.
  StatusOr<std::vector<std::string>> Command(const std::vector<std::string>& args) const;

 private:
  RedisServer(pid_t pid, int port, std::string dir) : pid_(pid), port_(port), dir_(std::move(dir)) {}

  pid_t pid_;
  int port_;
  std::string dir_;  // the server's working directory and log; removed on destruction
};

// A loopback TCP port that was free a moment ago (bind to port 0, read it back, close).
StatusOr<int> FreeLoopbackPort();

}  // namespace funnel::testing
