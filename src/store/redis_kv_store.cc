// KvStore on a Redis server (hiredis), shared by several Funnel processes. Every key is stored
// as key_prefix + key so several stores can share one server and database.
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <hiredis/hiredis.h>

#include "absl/container/flat_hash_set.h"
#include "store/kv_backends.h"

namespace funnel::store {
namespace {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// Keys per MGET: large enough to amortize round trips, small enough that one command does not
// stall the (single-threaded) server for long.
constexpr size_t kMgetChunk = 1000;
constexpr size_t kMaxIdleConnections = 16;

// hiredis writes with write(2), so a server that closed the connection raises SIGPIPE, whose
// default action kills the process. A library must not change process-wide signal handling, so
// each operation blocks SIGPIPE in its own thread and discards one it caused (libpq's recipe).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        timespec zero{0, 0};
        sigtimedwait(&pipe_only, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

// SCAN's MATCH is a glob pattern: a prefix holding * ? [ ] or \ must match them literally.
std::string EscapeGlob(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Queues one command; hiredis copies the arguments into its output buffer, so they only need
// to live for the call. Binary-safe: every argument is passed with its length.
bool Append(redisContext* c, std::span<const std::string_view> args) {
  std::vector<const char*> argv(args.size());
  std::vector<size_t> argvlen(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    argvlen[i] = args[i].size();
  }
  return redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), argvlen.data()) ==
         REDIS_OK;
}

bool Append(redisContext* c, std::initializer_list<std::string_view> args) {
  return Append(c, std::span<const std::string_view>(args.begin(), args.size()));
}

std::string_view ReplyText(const redisReply* r) { return {r->str, r->len}; }

// Thread-safe: each operation takes a connection of its own from a small pool (a hiredis
// context is not thread-safe), so concurrent callers do not wait on one socket.
class RedisKvStore final : public KvStore {
 public:
  static StatusOr<std::unique_ptr<KvStore>> Open(const KvOptions& options) {
    if (options.timeout_ms <= 0)
      return absl::InvalidArgumentError(
          Cat("redis kv backend: timeout_ms must be positive, got ", options.timeout_ms));
    auto store = std::unique_ptr<RedisKvStore>(new RedisKvStore(options));
    // Connect now, so a wrong host, port or database fails at start-up, not at the first request.
    FUNNEL_ASSIGN_OR_RETURN(Context c, store->Connect());
    store->Release(std::move(c));
    return std::unique_ptr<KvStore>(std::move(store));
  }

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    std::optional<std::string> out;
    FUNNEL_RETURN_IF_ERROR(Run([&](redisContext* c) -> Status {
      std::string full = FullKey(key);
      if (!Append(c, {"GET", full})) return ConnectionError(c, "GET");
      FUNNEL_ASSIGN_OR_RETURN(Reply r, ReadReply(c, "GET"));
      if (r->type == REDIS_REPLY_NIL) {
        out.reset();
      } else if (r->type == REDIS_REPLY_STRING) {
        out.emplace(ReplyText(r.get()));
      } else {
        return UnexpectedReply("GET", r.get());
      }
      return absl::OkStatus();
    }));
    return out;
  }

  // One MGET per chunk of keys; several chunks are wrapped in MULTI/EXEC so the answer is one
  // consistent view, as on the other backends.
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const override {
    std::vector<std::optional<std::string>> out(keys.size());
    if (keys.empty()) return out;
    const size_t chunks = (keys.size() + kMgetChunk - 1) / kMgetChunk;
    FUNNEL_RETURN_IF_ERROR(Run([&](redisContext* c) -> Status {
      const bool transaction = chunks > 1;
      if (transaction && !Append(c, {"MULTI"})) return ConnectionError(c, "MULTI");
      std::vector<std::string> full;
      std::vector<std::string_view> args;
      for (size_t begin = 0; begin < keys.size(); begin += kMgetChunk) {
        size_t end = std::min(keys.size(), begin + kMgetChunk);
        full.clear();
        args.assign({"MGET"});
        for (size_t i = begin; i < end; ++i) full.push_back(FullKey(keys[i]));
        args.insert(args.end(), full.begin(), full.end());
        if (!Append(c, args)) return ConnectionError(c, "MGET");
      }
      if (transaction && !Append(c, {"EXEC"})) return ConnectionError(c, "EXEC");

      std::vector<Reply> replies;
      FUNNEL_RETURN_IF_ERROR(ReadReplies(c, transaction ? chunks + 2 : 1, "MGET", &replies));
      for (const Reply& r : replies)
        if (r->type == REDIS_REPLY_ERROR) return ServerError("MGET", r.get());
      std::vector<const redisReply*> mgets;
      if (transaction) {
        const redisReply* exec = replies.back().get();
        if (exec->type != REDIS_REPLY_ARRAY || exec->elements != chunks)
          return UnexpectedReply("EXEC", exec);
        for (size_t i = 0; i < chunks; ++i) mgets.push_back(exec->element[i]);
      } else {
        mgets.push_back(replies[0].get());
      }
      size_t k = 0;
      for (const redisReply* m : mgets) {
        if (m->type == REDIS_REPLY_ERROR) return ServerError("MGET", m);
        if (m->type != REDIS_REPLY_ARRAY) return UnexpectedReply("MGET", m);
        for (size_t i = 0; i < m->elements; ++i, ++k) {
          const redisReply* e = m->element[i];
          if (k >= out.size()) return UnexpectedReply("MGET", m);
          if (e->type == REDIS_REPLY_STRING) {
            out[k].emplace(ReplyText(e));
          } else if (e->type == REDIS_REPLY_NIL) {
            out[k].reset();
          } else {
            return UnexpectedReply("MGET", e);
          }
        }
      }
      if (k != out.size()) return absl::InternalError(Cat("redis ", endpoint_, ": MGET answered ", k,
                                                          " values for ", out.size(), " keys"));
      return absl::OkStatus();
    }));
    return out;
  }

  // MULTI, the batch's SET/DEL, EXEC: sent as one pipeline, applied by the server as a unit.
  // A retry after a broken connection may apply a batch the server had already executed;
  // that leaves the same values, since a batch sets absolute values rather than increments.
  Status Write(const KvBatch& batch) override {
    if (batch.empty()) return absl::OkStatus();
    return Run([&](redisContext* c) -> Status {
      if (!Append(c, {"MULTI"})) return ConnectionError(c, "MULTI");
      std::string full;
      for (const KvBatch::Op& op : batch.ops()) {
        full = FullKey(op.key);
        bool ok = op.is_delete ? Append(c, {"DEL", full}) : Append(c, {"SET", full, op.value});
        if (!ok) return ConnectionError(c, op.is_delete ? "DEL" : "SET");
      }
      if (!Append(c, {"EXEC"})) return ConnectionError(c, "EXEC");

      std::vector<Reply> replies;
      FUNNEL_RETURN_IF_ERROR(ReadReplies(c, batch.size() + 2, "EXEC", &replies));
      // A command the server refused to queue aborts the transaction; report that reason
      // rather than EXEC's generic EXECABORT.
      for (size_t i = 0; i + 1 < replies.size(); ++i)
        if (replies[i]->type == REDIS_REPLY_ERROR)
          return ServerError("write batch (nothing applied)", replies[i].get());
      const redisReply* exec = replies.back().get();
      if (exec->type == REDIS_REPLY_ERROR) return ServerError("write batch EXEC", exec);
      if (exec->type != REDIS_REPLY_ARRAY || exec->elements != batch.size())
        return UnexpectedReply("EXEC", exec);
      for (size_t i = 0; i < exec->elements; ++i)
        if (exec->element[i]->type == REDIS_REPLY_ERROR)
          return ServerError("write batch (partly applied)", exec->element[i]);
      return absl::OkStatus();
    });
  }

  // SCAN walks the whole database (other prefixes included), so its cost is the database's
  // size, not the match count: fine for maintenance and tests, not for a request path.
  Status ScanPrefix(std::string_view prefix,
                    const std::function<bool(std::string_view, std::string_view)>& fn)
      const override {
    const std::string pattern = EscapeGlob(FullKey(prefix)) + "*";
    const size_t strip = key_prefix_.size();
    // SCAN may return a key more than once (while the server resizes its table).
    absl::flat_hash_set<std::string> seen;
    std::string cursor = "0";
    std::vector<std::pair<std::string, std::string>> found;
    do {
      std::string next_cursor;
      // Each step is retried on its own: the cursor is plain data, valid on a new connection.
      FUNNEL_RETURN_IF_ERROR(Run([&](redisContext* c) -> Status {
        found.clear();
        if (!Append(c, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}))
          return ConnectionError(c, "SCAN");
        FUNNEL_ASSIGN_OR_RETURN(Reply scan, ReadReply(c, "SCAN"));
        if (scan->type == REDIS_REPLY_ERROR) return ServerError("SCAN", scan.get());
        if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
            scan->element[0]->type != REDIS_REPLY_STRING ||
            scan->element[1]->type != REDIS_REPLY_ARRAY)
          return UnexpectedReply("SCAN", scan.get());
        next_cursor = std::string(ReplyText(scan->element[0]));
        const redisReply* keys = scan->element[1];
        if (keys->elements == 0) return absl::OkStatus();
        std::vector<std::string_view> args = {"MGET"};
        for (size_t i = 0; i < keys->elements; ++i) {
          if (keys->element[i]->type != REDIS_REPLY_STRING)
            return UnexpectedReply("SCAN", keys->element[i]);
          args.push_back(ReplyText(keys->element[i]));
        }
        if (!Append(c, args)) return ConnectionError(c, "MGET");
        FUNNEL_ASSIGN_OR_RETURN(Reply values, ReadReply(c, "MGET"));
        if (values->type == REDIS_REPLY_ERROR) return ServerError("MGET", values.get());
        if (values->type != REDIS_REPLY_ARRAY || values->elements != keys->elements)
          return UnexpectedReply("MGET", values.get());
        for (size_t i = 0; i < keys->elements; ++i) {
          const redisReply* v = values->element[i];
          if (v->type == REDIS_REPLY_NIL) continue;  // deleted since SCAN saw it
          if (v->type != REDIS_REPLY_STRING) return UnexpectedReply("MGET", v);
          std::string_view key = ReplyText(keys->element[i]);
          found.emplace_back(std::string(key.substr(strip)), std::string(ReplyText(v)));
        }
        return absl::OkStatus();
      }));
      cursor = std::move(next_cursor);
      // fn runs with no connection held, so it may use this store itself.
      for (const auto& [key, value] : found)
        if (seen.insert(key).second && !fn(key, value)) return absl::OkStatus();
    } while (cursor != "0");
    return absl::OkStatus();
  }

  std::string_view backend() const override { return "redis"; }

 private:
  explicit RedisKvStore(const KvOptions& options)
      : host_(options.redis_host),
        port_(options.redis_port),
        db_(options.redis_db),
        key_prefix_(options.key_prefix),
        timeout_ms_(options.timeout_ms),
        endpoint_(Cat(options.redis_host, ":", options.redis_port)) {}

  std::string FullKey(std::string_view key) const {
    std::string full;
    full.reserve(key_prefix_.size() + key.size());
    full.append(key_prefix_).append(key);
    return full;
  }

  StatusOr<Context> Connect() const {
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    Context c(redisConnectWithTimeout(host_.c_str(), port_, tv));
    if (c == nullptr)
      return absl::ResourceExhaustedError(Cat("redis ", endpoint_, ": cannot allocate a context"));
    if (c->err != 0)
      return absl::UnavailableError(Cat("cannot connect to redis at ", endpoint_, ": ", c->errstr,
                                        " (timeout ", timeout_ms_, " ms)"));
    if (redisSetTimeout(c.get(), tv) != REDIS_OK)
      return ConnectionError(c.get(), "setting the command timeout");
    redisEnableKeepAlive(c.get());  // notice a server that vanished without closing
    // SELECT even for database 0: it also proves the server answers within the timeout.
    SigpipeGuard guard;
    std::string db = std::to_string(db_);
    if (!Append(c.get(), {"SELECT", db})) return ConnectionError(c.get(), "SELECT");
    FUNNEL_ASSIGN_OR_RETURN(Reply r, ReadReply(c.get(), "SELECT"));
    if (r->type == REDIS_REPLY_ERROR)
      return absl::InvalidArgumentError(
          Cat("redis ", endpoint_, ": SELECT ", db_, ": ", ReplyText(r.get())));
    return c;
  }

  StatusOr<Context> Acquire() const {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        Context c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    return Connect();
  }

  void Release(Context c) const {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(c));
  }

  // Runs op on a pooled connection. A connection that broke (the server restarted, or closed an
  // idle client) is dropped with every idle one, since they likely share its fate, and op is
  // retried once on a fresh connection. Not retried: errors the server answered with, and
  // timeouts, where a second wait would only double the caller's latency.
  template <typename Op>
  Status Run(const Op& op) const {
    SigpipeGuard guard;
    for (int attempt = 0;; ++attempt) {
      FUNNEL_ASSIGN_OR_RETURN(Context c, Acquire());
      Status s = op(c.get());
      if (c->err == 0) {
        Release(std::move(c));
        return s;
      }
      {
        std::lock_guard lock(mu_);
        idle_.clear();
      }
      if (attempt == 1 || absl::IsDeadlineExceeded(s)) return s;
    }
  }

  StatusOr<Reply> ReadReply(redisContext* c, std::string_view what) const {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) return ConnectionError(c, what);
    return Reply(static_cast<redisReply*>(raw));
  }

  Status ReadReplies(redisContext* c, size_t n, std::string_view what,
                     std::vector<Reply>* out) const {
    out->clear();
    out->reserve(n);
    for (size_t i = 0; i < n; ++i) {
      FUNNEL_ASSIGN_OR_RETURN(Reply r, ReadReply(c, what));
      out->push_back(std::move(r));
    }
    return absl::OkStatus();
  }

  Status ConnectionError(const redisContext* c, std::string_view what) const {
    if (c->err == 0) return absl::UnavailableError(Cat("redis ", endpoint_, ": ", what, ": no reply"));
    // hiredis reports an expired socket timeout as the bare EAGAIN text, which hides the cause.
    if (c->err == REDIS_ERR_IO && std::string_view(c->errstr) == std::strerror(EAGAIN))
      return absl::DeadlineExceededError(
          Cat("redis ", endpoint_, ": ", what, ": no answer within ", timeout_ms_, " ms"));
    return absl::UnavailableError(Cat("redis ", endpoint_, ": ", what, ": ", c->errstr));
  }

  Status ServerError(std::string_view what, const redisReply* r) const {
    return absl::InternalError(Cat("redis ", endpoint_, ": ", what, ": ", ReplyText(r)));
  }

  Status UnexpectedReply(std::string_view what, const redisReply* r) const {
    if (r->type == REDIS_REPLY_ERROR) return ServerError(what, r);
    return absl::InternalError(
        Cat("redis ", endpoint_, ": ", what, ": unexpected reply of type ", r->type));
  }

  // Constant after construction.
  const std::string host_;
  const int port_;
  const int db_;
  const std::string key_prefix_;
  const int timeout_ms_;
  const std::string endpoint_;  // host:port, for messages

  mutable std::mutex mu_;
  mutable std::vector<Context> idle_;  // guarded by mu_
};

}  // namespace

StatusOr<std::unique_ptr<KvStore>> NewRedisKvStore(const KvOptions& options) {
  return RedisKvStore::Open(options);
}

}  // namespace funnel::store
