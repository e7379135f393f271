// An accepted event survives kill -9 (docs/formats.md, "Refused records": durability).
//
// Runs the real `funnel import events --print-commits` as a child process many times over the
// same input and data directory, SIGKILLs it at random moments (during start-up and store open,
// right after its first commits, right after it starts writing events that are new to the
// store, at a random time), and after every kill checks that:
//  - the store opens cleanly (read-write, as the next import would open it);
//  - every event up to the highest input line the importer reported as committed is stored,
//    and so is everything a previous round found stored (nothing ever disappears);
//  - nothing is stored twice: Replay yields each id at most once, and Stats().events equals
//    the number of replayed events;
//  - the dedupe index agrees with the events (Contains(e) is true exactly for replayed events;
//    a dedupe key without its event would make the event impossible to ever import again).
// Finally one import runs to completion and the store must hold every event exactly once.
//
// The kill times are drawn from a seeded generator; the seed is printed and can be replayed
// with FUNNEL_KILL9_SEED=<n>. (Replaying a seed repeats the schedule, not the OS timing.)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "funnel/store/event_store.h"
#include "support/temp_dir.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUNNEL_KILL9_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUNNEL_KILL9_SANITIZED 1
#endif
#endif

namespace funnel {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef FUNNEL_KILL9_SANITIZED
// Sanitized binaries are several times slower; fewer events keep the test's length reasonable.
constexpr uint64_t kEvents = 80'000;
constexpr int kRounds = 30;
#else
constexpr uint64_t kEvents = 200'000;
constexpr int kRounds = 30;
#endif
constexpr uint64_t kDefaultSeed = 20240607;

// Event n is on input line n + 1 and has id "e-<n>". Users keep appearing throughout the file
// so every batch also writes new dictionary entries.
std::string EventLine(uint64_t n) {
  static const char* const kTypes[] = {"click", "view", "like", "watch"};
  std::string line = "{\"user\":\"u" + std::to_string(n / 4) + "\",\"item\":\"i" +
                     std::to_string((n * 7919) % 30011) + "\",\"type\":\"" + kTypes[n % 4] +
                     "\",\"ts\":" + std::to_string(1700000000 + n / 2) + ".5,\"id\":\"e-" +
                     std::to_string(n) + "\"";
  if (n % 4 == 3) line += ",\"value\":" + std::to_string(n % 300);
  line += "}\n";
  return line;
}

events::Event EventWithId(uint64_t n) {
  events::Event e;
  e.id = "e-" + std::to_string(n);
  return e;
}

// One `committed SOURCE LINE ACCEPTED` line from the importer.
struct Commit {
  uint64_t line = 0;
  uint64_t accepted = 0;
  double at_ms = 0;  // since the child was started
};

// A child process with stdout on a pipe, stderr appended to a file, stdin from /dev/null.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& stderr_path) {
    // Everything the child needs is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    start_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(null_fd, 0);
      dup2(out[1], 1);
      dup2(err_fd, 2);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err_fd);
    close(null_fd);
    if (pid_ < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      close(out[0]);
      return;
    }
    fd_ = out[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (fd_ >= 0) close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  double ElapsedMs() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  }

  // Waits until stdout has data or `deadline` passes, and reads what is there. Returns false
  // once stdout is closed (the child exited or was killed).
  bool ReadUntil(Clock::time_point deadline) {
    if (fd_ < 0) return false;
    auto now = Clock::now();
    if (now >= deadline) return true;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    pollfd p{fd_, POLLIN, 0};
    int r = ppoll(&p, 1, &ts, nullptr);
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "ppoll: " << std::strerror(errno);
      return false;
    }
    return r > 0 ? ReadSome() : true;
  }

  void Kill() {
    if (pid_ > 0 && !reaped_) kill(pid_, SIGKILL);
  }

  // Reads stdout to its end (what was written before a kill still counts), then reaps the
  // child. Returns the wait status.
  int Wait() {
    while (fd_ >= 0 && ReadSome()) {
    }
    if (!reaped_) {
      while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return status_;
  }

  const std::vector<Commit>& commits() const { return commits_; }
  const std::string& output() const { return output_; }

 private:
  // One read; false at end of stream.
  bool ReadSome() {
    char buf[65536];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      close(fd_);
      fd_ = -1;
      return false;
    }
    double at = ElapsedMs();
    size_t old = output_.size();
    output_.append(buf, n);
    // Parse the complete lines that this read finished.
    size_t line_start = output_.rfind('\n', old == 0 ? std::string::npos : old - 1);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    for (size_t nl; (nl = output_.find('\n', line_start)) != std::string::npos; line_start = nl + 1)
      ParseLine(std::string_view(output_).substr(line_start, nl - line_start), at);
    return true;
  }

  void ParseLine(std::string_view line, double at) {
    if (!line.starts_with("committed ")) return;
    // committed SOURCE LINE ACCEPTED; SOURCE is a path that may hold spaces, so parse from the end.
    size_t b = line.rfind(' ');
    size_t a = line.rfind(' ', b - 1);
    Commit c;
    c.line = std::strtoull(std::string(line.substr(a + 1, b - a - 1)).c_str(), nullptr, 10);
    c.accepted = std::strtoull(std::string(line.substr(b + 1)).c_str(), nullptr, 10);
    c.at_ms = at;
    commits_.push_back(c);
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  Clock::time_point start_;
  std::string output_;
  std::vector<Commit> commits_;
};

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What the store holds, read through the public interface the way a restarted process would.
struct StoreCheck {
  bool opened = false;
  uint64_t replayed = 0;
  uint64_t stats_events = 0;
  std::vector<uint8_t> seen;      // seen[n]: times id e-<n> was replayed
  std::vector<std::string> bad;   // problems found, for the failure message
};

// Contains() is checked for every id from `dense_from` to a margin past the last stored event
// (where a killed import can have written) and for every 97th id elsewhere.
StoreCheck CheckStore(const std::string& path, uint64_t n_events, uint64_t dense_from = 0) {
  StoreCheck out;
  out.seen.assign(n_events, 0);
  store::EventStoreOptions opts;
  opts.path = path;
  auto opened = store::EventStore::Open(opts);
  if (!opened.ok()) {
    out.bad.push_back("the store does not open: " + std::string(opened.status().message()));
    return out;
  }
  out.opened = true;
  const store::EventStore& st = **opened;
  Status s = st.Replay(Timestamp::Min(), Timestamp::Max(), [&](const store::StoredEvent& e) {
    ++out.replayed;
    uint64_t n = 0;
    bool ok = e.id.starts_with("e-") && e.id.size() > 2;
    for (char c : e.id.substr(std::min<size_t>(2, e.id.size()))) {
      ok = ok && c >= '0' && c <= '9';
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || n >= n_events) {
      if (out.bad.size() < 20) out.bad.push_back("unexpected stored id '" + std::string(e.id) + "'");
      return true;
    }
    if (++out.seen[n] == 2 && out.bad.size() < 20)
      out.bad.push_back("event e-" + std::to_string(n) + " is stored twice");
    return true;
  });
  if (!s.ok()) out.bad.push_back("replay failed: " + std::string(s.message()));
  out.stats_events = st.Stats().events;
  if (out.stats_events != out.replayed)
    out.bad.push_back("Stats().events is " + std::to_string(out.stats_events) + " but replay yields " +
                      std::to_string(out.replayed));

  // The dedupe index must agree with the events. A dedupe key without its event would make the
  // event impossible to import ever again; an event without its key would be stored twice later.
  uint64_t last = 0;
  for (uint64_t n = 0; n < n_events; ++n)
    if (out.seen[n]) last = n + 1;
  const uint64_t dense_to = std::min<uint64_t>(n_events, last + 10'000);
  int mismatches = 0;
  for (uint64_t n = 0; n < n_events; ++n) {
    if ((n < dense_from || n >= dense_to) && n % 97 != 0) continue;
    StatusOr<bool> has = st.Contains(EventWithId(n));
    if (!has.ok()) {
      out.bad.push_back("Contains failed: " + std::string(has.status().message()));
      break;
    }
    if (*has != (out.seen[n] > 0) && ++mismatches <= 10)
      out.bad.push_back("e-" + std::to_string(n) + (*has ? " is in the dedupe index but not replayed"
                                                         : " is replayed but not in the dedupe index"));
  }
  if (mismatches > 10) out.bad.push_back("... " + std::to_string(mismatches - 10) + " more dedupe mismatches");
  return out;
}

uint64_t DistinctStored(const StoreCheck& c) {
  return static_cast<uint64_t>(std::count_if(c.seen.begin(), c.seen.end(), [](uint8_t k) { return k > 0; }));
}

// When, in a round, the importer is killed.
enum class KillAt {
  kStartup,     // a few ms after fork: exec, config, store open, first parse
  kFirstCommits,  // just after its k-th commit line
  kNewData,     // just after its first commit past what the store already held
  kMidCommit,   // within ~3 ms of such a commit: usually inside the next batch's write
  kRandomTime,  // at a random time up to a little after it reaches new events
};

const char* Name(KillAt k) {
  switch (k) {
    case KillAt::kStartup: return "startup";
    case KillAt::kFirstCommits: return "after-first-commits";
    case KillAt::kNewData: return "after-new-data";
    case KillAt::kMidCommit: return "mid-commit";
    case KillAt::kRandomTime: return "random-time";
  }
  return "?";
}

uint64_t SeedFromEnv() {
  const char* s = std::getenv("FUNNEL_KILL9_SEED");
  return s != nullptr && *s != '\0' ? std::strtoull(s, nullptr, 10) : kDefaultSeed;
}

TEST(Kill9Test, CommittedEventsSurviveKill9WithoutDuplicatesAndStoreAlwaysOpens) {
  const uint64_t seed = SeedFromEnv();
  std::cout << "[kill9] seed " << seed << " (set FUNNEL_KILL9_SEED to replay), " << kEvents
            << " events, " << kRounds << " rounds" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);

  testing::TempDir dir;
  const std::string input = dir / "events.jsonl";
  {
    std::string content;
    content.reserve(kEvents * 100);
    for (uint64_t n = 0; n < kEvents; ++n) content += EventLine(n);
    std::ofstream(input, std::ios::binary) << content;
  }
  const std::string data = dir / "data";
  const std::string store_path = data + "/events";
  const std::string stderr_path = dir / "importer.stderr";
  auto Argv = [&](uint64_t batch) {
    return std::vector<std::string>{FUNNEL_BINARY, "import", "events", input,         "--data",
                                    data,          "--batch", std::to_string(batch), "--print-commits"};
  };
  auto Uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  const KillAt kSchedule[] = {KillAt::kStartup, KillAt::kFirstCommits, KillAt::kNewData, KillAt::kMidCommit,
                              KillAt::kRandomTime};

  std::vector<uint8_t> ever_stored(kEvents, 0);  // stored after some earlier round
  uint64_t stored_before = 0;     // distinct events stored before this round
  // When the last run reached events new to the store (before that it re-reads and skips what
  // earlier runs stored); the random-time kills fall before or a little after this.
  double new_data_ms = 300;
  int rounds_with_commits = 0, rounds_killed = 0;

  for (int round = 0; round < kRounds; ++round) {
    const KillAt kill_at = kSchedule[round % std::size(kSchedule)];
    const uint64_t batch = Uniform(kEvents / 400, kEvents / 40);
    const uint64_t after_commits = Uniform(1, 4);
    uint64_t delay_us = 0;
    switch (kill_at) {
      case KillAt::kStartup: delay_us = Uniform(0, 4000); break;
      case KillAt::kFirstCommits: delay_us = Uniform(0, 3000); break;
      case KillAt::kNewData: delay_us = Uniform(0, 150'000); break;
      case KillAt::kMidCommit: delay_us = Uniform(0, 3000); break;
      case KillAt::kRandomTime:
        delay_us = Uniform(0, static_cast<uint64_t>(1000 * (new_data_ms + 100)));
        break;
    }
    // The first input line that is new to the store (events are stored in file order).
    uint64_t frontier_line = 0;
    while (frontier_line < kEvents && ever_stored[frontier_line]) ++frontier_line;

    Child child(Argv(batch), stderr_path);
    ASSERT_TRUE(child.started());
    const auto started = Clock::now();
    // Absolute deadline for the time-based kills; the commit-triggered ones wait (at most a
    // minute) for their commit first.
    const bool timed = kill_at == KillAt::kStartup || kill_at == KillAt::kRandomTime;
    auto deadline = timed ? started + std::chrono::microseconds(delay_us) : started + std::chrono::minutes(1);
    bool triggered = timed;
    size_t parsed = 0;
    bool killed = false;
    for (;;) {
      bool open = child.ReadUntil(deadline);
      for (; !triggered && parsed < child.commits().size(); ++parsed) {
        const Commit& c = child.commits()[parsed];
        bool fire = kill_at == KillAt::kFirstCommits ? parsed + 1 >= after_commits : c.line > frontier_line;
        if (fire) {
          triggered = true;
          deadline = Clock::now() + std::chrono::microseconds(delay_us);
        }
      }
      if (!open) break;
      if (Clock::now() >= deadline) {
        child.Kill();
        killed = true;
        break;
      }
    }
    const int status = child.Wait();
    const std::vector<Commit>& commits = child.commits();
    if (!commits.empty()) ++rounds_with_commits;
    for (const Commit& c : commits) {
      if (c.line > frontier_line) {
        new_data_ms = c.at_ms;
        break;
      }
    }
    const bool died_by_kill = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    rounds_killed += died_by_kill;

    std::ostringstream summary;
    summary << "round " << round << ": kill " << Name(kill_at) << " +" << delay_us << " us, batch " << batch
            << ", " << commits.size() << " commits (last line " << (commits.empty() ? 0 : commits.back().line)
            << "), " << DescribeStatus(status) << " after " << child.ElapsedMs() << " ms";
    SCOPED_TRACE(summary.str() + " [seed " + std::to_string(seed) + "]");

    // The importer either died from our SIGKILL or finished successfully by itself (it may have
    // been quicker than the kill); anything else (an error exit, a crash) is a failure.
    const bool finished_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    ASSERT_TRUE(died_by_kill || finished_ok)
        << "importer " << DescribeStatus(status) << (killed ? " (a SIGKILL was sent)" : "")
        << "\nstdout tail:\n" << child.output().substr(child.output().size() - std::min<size_t>(child.output().size(), 2000))
        << "\nstderr:\n" << ReadFile(stderr_path);

    // Commit reports are in input order.
    for (size_t i = 1; i < commits.size(); ++i) {
      ASSERT_GT(commits[i].line, commits[i - 1].line) << "commit lines must increase";
      ASSERT_GE(commits[i].accepted, commits[i - 1].accepted) << "accepted counts must not shrink";
    }
    const uint64_t committed_line = commits.empty() ? 0 : commits.back().line;
    const uint64_t reported_accepted = commits.empty() ? 0 : commits.back().accepted;
    ASSERT_LE(committed_line, kEvents);

    const auto check_start = Clock::now();
    StoreCheck check = CheckStore(store_path, kEvents, frontier_line > 0 ? frontier_line - 1 : 0);
    std::cout << "[kill9] " << summary.str() << "; " << DistinctStored(check) << " stored (checked in "
              << std::chrono::duration<double, std::milli>(Clock::now() - check_start).count() << " ms)"
              << std::endl;
    ASSERT_TRUE(check.opened) << check.bad.front();
    std::string problems;
    for (const auto& p : check.bad) problems += "\n  " + p;
    EXPECT_TRUE(check.bad.empty()) << "store check failed:" << problems;

    // Every event up to the last reported commit is stored.
    std::vector<uint64_t> missing;
    for (uint64_t n = 0; n < committed_line; ++n)
      if (!check.seen[n]) missing.push_back(n);
    EXPECT_TRUE(missing.empty()) << missing.size() << " events reported as committed (through line "
                                 << committed_line << ") are missing, the first is e-" << missing.front();
    // Nothing stored in an earlier round has gone.
    std::vector<uint64_t> vanished;
    for (uint64_t n = 0; n < kEvents; ++n)
      if (ever_stored[n] && !check.seen[n]) vanished.push_back(n);
    EXPECT_TRUE(vanished.empty()) << vanished.size() << " events stored after an earlier round are gone, the first is e-"
                                  << vanished.front();
    // What the importer acknowledged as newly accepted is in the store on top of what was there.
    const uint64_t distinct = DistinctStored(check);
    EXPECT_GE(distinct, stored_before + reported_accepted)
        << "the importer reported " << reported_accepted << " accepted this round on top of " << stored_before;
    if (finished_ok) {
      EXPECT_EQ(distinct, kEvents) << "a run that finished by itself must store every event";
    }

    if (HasFailure()) {
      std::cout << "[kill9] importer stderr:\n" << ReadFile(stderr_path) << std::endl;
      return;  // later rounds would only repeat the failure
    }
    for (uint64_t n = 0; n < kEvents; ++n) ever_stored[n] |= check.seen[n] > 0 ? 1 : 0;
    stored_before = distinct;
  }
  std::cout << "[kill9] " << rounds_killed << " of " << kRounds << " rounds killed, " << rounds_with_commits
            << " with commits, " << stored_before << " events stored before the final run" << std::endl;
  // The schedule must actually have killed importers, some of them after commits; otherwise this
  // test would pass without testing anything.
  EXPECT_GE(rounds_killed, kRounds / 2);
  EXPECT_GE(rounds_with_commits, kRounds / 3);

  // A final import runs to completion: everything is stored exactly once, and its report
  // counts what the killed runs had already stored as duplicates.
  Child final_run(Argv(Uniform(kEvents / 400, kEvents / 40)), stderr_path);
  ASSERT_TRUE(final_run.started());
  const int status = final_run.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "final import: " << DescribeStatus(status) << "\nstderr:\n" << ReadFile(stderr_path);
  std::string out = final_run.output();
  out.erase(std::remove(out.begin(), out.end(), ','), out.end());  // numbers print as 12,345
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"((\d+) accepted (\d+) duplicates? skipped (\d+) rejected)")))
      << final_run.output();
  EXPECT_EQ(std::stoull(m[1]), kEvents - stored_before);
  EXPECT_EQ(std::stoull(m[2]), stored_before);
  EXPECT_EQ(std::stoull(m[3]), 0u);

  StoreCheck check = CheckStore(store_path, kEvents);
  ASSERT_TRUE(check.opened) << check.bad.front();
  std::string problems;
  for (const auto& p : check.bad) problems += "\n  " + p;
  EXPECT_TRUE(check.bad.empty()) << "store check failed:" << problems;
  EXPECT_EQ(check.replayed, kEvents);
  EXPECT_EQ(check.stats_events, kEvents);
  EXPECT_EQ(DistinctStored(check), kEvents);
}

}  // namespace
}  // namespace funnel
