#include "support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <hiredis/hiredis.h>

namespace funnel::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = std::chrono::seconds(5);
constexpr auto kStopTimeout = std::chrono::seconds(3);

std::string FindRedisServer() {
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      std::string candidate = dir + "/redis-server";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  if (access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Connects and runs one command; nullptr reply and a message in *error on failure.
redisReply* RunCommand(const std::string& host, int port, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout, std::string* error) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
  if (c == nullptr || c->err != 0) {
    *error = c != nullptr ? c->errstr : "cannot allocate a redis context";
    redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), argvlen.data()));
  if (reply == nullptr) *error = c->errstr;
  redisFree(c);
  return reply;
}

bool AnswersPing(int port) {
  std::string error;
  redisReply* r = RunCommand("127.0.0.1", port, {"PING"}, std::chrono::milliseconds(200), &error);
  bool pong = r != nullptr && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
  freeReplyObject(r);
  return pong;
}

// Stops the child: SIGTERM, then SIGKILL if it has not exited after kStopTimeout.
void Stop(pid_t pid) {
  kill(pid, SIGTERM);
  auto deadline = Clock::now() + kStopTimeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(Cat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string error = std::strerror(errno);
    close(fd);
    return absl::InternalError(Cat("cannot find a free loopback port: ", error));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  const std::string binary = FindRedisServer();
  if (binary.empty())
    return absl::NotFoundError(
        "redis-server not found on PATH or at /usr/bin/redis-server; the redis backend tests "
        "need a real server: run scripts/setup.sh (installs Debian's redis-server)");

  std::string dir_template =
      (std::filesystem::temp_directory_path() / "funnel-redis-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr)
    return absl::InternalError(Cat("mkdtemp: ", std::strerror(errno)));
  const std::string dir = dir_template;
  const std::string log = dir + "/redis.log";
  auto fail = [&](std::string message) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return absl::UnavailableError(std::move(message));
  };

  // Another process may take the port between FreeLoopbackPort and the server's bind: retry.
  std::string last_output;
  for (int attempt = 0; attempt < 3; ++attempt) {
    StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return fail(std::string(MessageOf(port.status())));
    const std::vector<std::string> args = {
        binary, "--port", std::to_string(*port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--daemonize", "no", "--dir", dir};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return fail(Cat("cannot create ", log, ": ", std::strerror(errno)));
    const pid_t parent = getpid();

    pid_t pid = fork();
    if (pid < 0) {
      close(out);
      return fail(Cat("fork: ", std::strerror(errno)));
    }
    if (pid == 0) {
      // Only async-signal-safe calls here: the test process may have other threads.
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test must not leave a server behind
      if (getppid() != parent) _exit(126);
      int null_in = open("/dev/null", O_RDONLY);
      if (null_in >= 0) dup2(null_in, 0);
      dup2(out, 1);
      dup2(out, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out);

    const auto deadline = Clock::now() + kStartTimeout;
    bool exited = false;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (AnswersPing(*port))
        return std::unique_ptr<RedisServer>(new RedisServer(pid, *port, dir));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) Stop(pid);
    last_output = ReadFile(log);
    if (!exited || last_output.find("Address already in use") == std::string::npos) {
      return fail(Cat(binary, " on port ", *port,
                      exited ? " exited before answering PING" : " did not answer PING within 5 s",
                      "; its output:\n", last_output));
    }
  }
  return fail(Cat(binary, " could not bind a free port in 3 attempts; last output:\n", last_output));
}

RedisServer::~RedisServer() {
  Stop(pid_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

StatusOr<std::vector<std::string>> RedisServer::Command(const std::vector<std::string>& args) const {
  std::string error;
  redisReply* r = RunCommand(host(), port_, args, std::chrono::milliseconds(2000), &error);
  if (r == nullptr) return absl::UnavailableError(Cat("redis test server: ", error));
  std::vector<std::string> out;
  Status status = absl::OkStatus();
  auto text = [&](const redisReply* e) {
    switch (e->type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        out.emplace_back(e->str, e->len);
        break;
      case REDIS_REPLY_INTEGER:
        out.push_back(std::to_string(e->integer));
        break;
      case REDIS_REPLY_NIL:
        break;
      case REDIS_REPLY_ERROR:
        status = absl::InternalError(Cat("redis test server: ", std::string_view(e->str, e->len)));
        break;
      default:
        status = absl::InternalError(Cat("redis test server: nested reply of type ", e->type));
    }
  };
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) text(r->element[i]);
  } else {
    text(r);
  }
  freeReplyObject(r);
  if (!status.ok()) return status;
  return out;
}

}  // namespace funnel::testing
