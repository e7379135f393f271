#include "synthetic_platform.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "funnel/core/config.h"
#include "funnel/events/generator.h"
#include "funnel/events/jsonl_importer.h"

namespace funnel::bench {

namespace fs = std::filesystem;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Signature(const PlatformOptions& o) {
  return Cat("users ", o.users, " items ", o.items, " days ", o.days, " seed ", o.seed);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return out ? absl::OkStatus() : absl::InternalError(Cat("cannot write ", path));
}

}  // namespace

Platform::~Platform() {
  store.reset();
  if (temporary && !dir.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

StatusOr<Platform> OpenPlatform(const PlatformOptions& options) {
  Platform p;
  if (options.dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "funnel-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    p.dir = tmpl;
    p.temporary = true;
  } else {
    p.dir = options.dir;
  }
  p.gen_dir = p.dir + "/gen";
  const std::string signature = Signature(options);
  const std::string gen_marker = p.dir + "/generated", import_marker = p.dir + "/imported";
  std::error_code ec;
  fs::create_directories(p.dir, ec);
  if (ec) return absl::InternalError(Cat("cannot create ", p.dir, ": ", ec.message()));

  if (ReadFile(gen_marker) != signature) {
    fs::remove(import_marker, ec);
    events::GeneratorOptions g;
    g.users = options.users;
    g.items = options.items;
    g.days = options.days;
    g.seed = options.seed;
    g.out_dir = p.gen_dir;
    std::fprintf(stderr, "generating %s into %s\n", signature.c_str(), p.gen_dir.c_str());
    const auto start = std::chrono::steady_clock::now();
    FUNNEL_RETURN_IF_ERROR(events::GeneratePlatform(g).status());
    p.generate_seconds = SecondsSince(start);
    FUNNEL_RETURN_IF_ERROR(WriteFile(gen_marker, signature));
  }

  const bool imported = ReadFile(import_marker) == signature;
  if (!imported) fs::remove_all(p.dir + "/events", ec);
  store::EventStoreOptions so;
  so.path = p.dir + "/events";
  so.sync = false;  // set-up only: durability is not what is measured
  FUNNEL_ASSIGN_OR_RETURN(p.store, store::EventStore::Open(so));
  if (!imported) {
    std::fprintf(stderr, "importing into %s\n", so.path.c_str());
    const auto start = std::chrono::steady_clock::now();
    events::ImportOptions io;
    ImportConfig limits;
    FUNNEL_ASSIGN_OR_RETURN(events::ImportReport items, events::ImportJsonLines(p.gen_dir + "/items.jsonl",
                                                                                events::RecordKind::kItem,
                                                                                *p.store, limits, io));
    FUNNEL_ASSIGN_OR_RETURN(events::ImportReport evs, events::ImportJsonLines(p.gen_dir + "/events.jsonl",
                                                                              events::RecordKind::kEvent,
                                                                              *p.store, limits, io));
    if (items.rejected + evs.rejected > 0)
      return absl::DataLossError(Cat("the generator's output was rejected: ", items.rejected + evs.rejected, " records"));
    p.import_seconds = SecondsSince(start);
    FUNNEL_RETURN_IF_ERROR(WriteFile(import_marker, signature));
  }
  return p;
}

bool ParsePlatformFlags(int argc, char** argv, PlatformOptions* options, std::vector<std::string>* rest) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto number = [&](auto* out) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      unsigned long long v = std::strtoull(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0') return false;
      *out = static_cast<std::remove_reference_t<decltype(*out)>>(v);
      ++i;
      return true;
    };
    bool ok = true;
    if (flag == "--work" && i + 1 < argc) options->dir = argv[++i];
    else if (flag == "--users") ok = number(&options->users);
    else if (flag == "--items") ok = number(&options->items);
    else if (flag == "--days") ok = number(&options->days);
    else if (flag == "--seed") ok = number(&options->seed);
    else rest->push_back(flag);
    if (!ok) {
      std::fprintf(stderr, "%s needs a non-negative integer\n", flag.c_str());
      return false;
    }
  }
  return true;
}

std::string MachineLine() {
  std::string model;
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%ld cores, %s, load %.2f %.2f %.2f", sysconf(_SC_NPROCESSORS_ONLN), model.c_str(),
                load[0], load[1], load[2]);
  return buf;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace funnel::bench
