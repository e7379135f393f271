// The vector index file (docs/formats/vector-index.md): a fixed header, the vectors, the graph
// when there is one, and an XXH3-64 of everything before it. Sizes all follow from the header,
// so a truncated file is caught before anything large is allocated; the checksum catches
// flipped bits; graph validation catches a well-checksummed file with impossible links.
#include "retrieval/vector_index_io.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>


namespace funnel::retrieval {
namespace {

static_assert(std::endian::native == std::endian::little, "the index file is little-endian");

constexpr char kMagic[8] = {'F', 'U', 'N', 'L', 'V', 'I', 'D', 'X'};
// Version 2 added norm-range shards and unindexed (zero-vector) items; version 1 files (one
// graph over every item) still load, as one shard.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldestVersion = 1;
constexpr uint32_t kKindExact = 0;
constexpr uint32_t kKindHnsw = 1;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kind;
  uint32_t num;
  uint32_t dim;
  uint32_t m;
  uint32_t max_m0;
  uint32_t ef_construction;
  uint32_t ef_search;
  uint32_t entry;      // version 1: the entry node; version 2: the number of shards
  uint32_t max_level;  // version 1: the top level; version 2: norm_shards as asked at build
  uint64_t upper_links;
  uint64_t reserved;
};
static_assert(sizeof(Header) == 64);
static_assert(sizeof(HnswGraph::Entry) == 8);

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct XxhFree {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using XxhState = std::unique_ptr<XXH3_state_t, XxhFree>;

XxhState NewHashState() {
  XxhState state(XXH3_createState());
  FUNNEL_CHECK(state != nullptr);
  XXH3_64bits_reset(state.get());
  return state;
}

// Bytes the sections after the header take, or 0 when a field is out of any sane range (then
// no real file has that size, and the sum below cannot overflow).
uint64_t BodyBytes(const Header& h) {
  if (h.dim == 0 || h.dim > (1u << 20)) return 0;
  uint64_t bytes = uint64_t{h.num} * h.dim * sizeof(float);
  if (h.kind == kKindHnsw) {
    if (h.max_m0 > 65535 || h.upper_links > (uint64_t{1} << 40)) return 0;
    bytes += uint64_t{h.num} * (1 + uint64_t{h.max_m0}) * sizeof(uint32_t);
    bytes += (uint64_t{h.num} + 1) * sizeof(uint64_t);
    bytes += h.upper_links * sizeof(uint32_t);
    if (h.version >= 2) {
      if (h.entry > h.num) return 0;
      bytes += uint64_t{h.entry} * sizeof(HnswGraph::Entry) + uint64_t{h.num} * sizeof(uint32_t);
    }
  }
  return bytes + sizeof(uint64_t);  // checksum
}

class Writer {
 public:
  Writer(std::FILE* f) : file_(f), hash_(NewHashState()) {}
  template <typename T>
  void Put(std::span<const T> items) {
    if (!ok_ || items.empty()) return;
    ok_ = std::fwrite(items.data(), sizeof(T), items.size(), file_) == items.size();
    XXH3_64bits_update(hash_.get(), items.data(), items.size_bytes());
  }
  void PutChecksum() {
    uint64_t sum = XXH3_64bits_digest(hash_.get());
    ok_ = ok_ && std::fwrite(&sum, sizeof(sum), 1, file_) == 1;
  }
  bool ok() const { return ok_; }

 private:
  std::FILE* file_;
  XxhState hash_;
  bool ok_ = true;
};

class Reader {
 public:
  Reader(std::FILE* f) : file_(f), hash_(NewHashState()) {}
  template <typename T>
  bool Get(std::span<T> items) {
    if (items.empty()) return true;
    if (std::fread(items.data(), sizeof(T), items.size(), file_) != items.size()) return false;
    XXH3_64bits_update(hash_.get(), items.data(), items.size_bytes());
    return true;
  }
  // Reads the stored checksum and compares it with the bytes read so far.
  bool ChecksumMatches() {
    uint64_t stored = 0;
    if (std::fread(&stored, sizeof(stored), 1, file_) != 1) return false;
    return stored == XXH3_64bits_digest(hash_.get());
  }

 private:
  std::FILE* file_;
  XxhState hash_;
};

}  // namespace

Status WriteIndexFile(const std::string& path, const IndexFileContents& c) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.kind = c.graph ? kKindHnsw : kKindExact;
  h.num = c.num;
  h.dim = static_cast<uint32_t>(c.dim);
  if (c.graph) {
    h.m = c.params.m;
    h.max_m0 = c.graph->max_m0;
    h.ef_construction = c.params.ef_construction;
    h.ef_search = c.params.ef_search;
    h.entry = static_cast<uint32_t>(c.graph->entries.size());
    h.max_level = c.params.norm_shards;
    h.upper_links = c.graph->upper_links.size();
    FUNNEL_CHECK(c.graph->max_m == c.params.m);
  }
  std::string tmp = path + ".tmp";
  File file(std::fopen(tmp.c_str(), "wb"));
  if (!file) return absl::UnavailableError(Cat("cannot create vector index file ", tmp, ": ", std::strerror(errno)));
  Writer w(file.get());
  w.Put(std::span<const Header>(&h, 1));
  w.Put(c.vectors);
  if (c.graph) {
    w.Put(std::span<const uint32_t>(c.graph->links0));
    w.Put(std::span<const uint64_t>(c.graph->upper_offsets));
    w.Put(std::span<const uint32_t>(c.graph->upper_links));
    w.Put(std::span<const HnswGraph::Entry>(c.graph->entries));
    w.Put(std::span<const uint32_t>(c.graph->shard));
  }
  w.PutChecksum();
  bool ok = w.ok() && std::fflush(file.get()) == 0 && ::fsync(fileno(file.get())) == 0;
  int error = errno;
  ok = (std::fclose(file.release()) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) error = errno;
    std::remove(tmp.c_str());
    return absl::UnavailableError(Cat("cannot write vector index file ", path, ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

StatusOr<IndexFileData> ReadIndexFile(const std::string& path) {
  auto fail = [&](std::string_view why) {
    return absl::DataLossError(Cat("vector index file ", path, ": ", why));
  };
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) return absl::NotFoundError(Cat("cannot open vector index file ", path, ": ", std::strerror(errno)));
  std::error_code ec;
  uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return fail(Cat("cannot read its size: ", ec.message()));

  Reader r(file.get());
  Header h{};
  if (file_size < sizeof(Header) || !r.Get(std::span<Header>(&h, 1)))
    return fail(Cat("truncated header (", file_size, " bytes)"));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError(Cat("vector index file ", path, ": not a Funnel vector index (bad magic)"));
  if (h.version < kOldestVersion || h.version > kVersion)
    return absl::FailedPreconditionError(Cat("vector index file ", path, ": format version ", h.version,
                                             ", this build reads versions ", kOldestVersion, " to ", kVersion,
                                             " (rebuild the index from the model's vectors)"));
  if (h.kind != kKindExact && h.kind != kKindHnsw) return fail(Cat("unknown index kind ", h.kind));
  uint64_t body = BodyBytes(h);
  if (body == 0 || file_size != sizeof(Header) + body)
    return fail(Cat("size ", file_size, " bytes, the header implies ", sizeof(Header) + body,
                    " (truncated or corrupted)"));

  std::vector<float> vectors(size_t{h.num} * h.dim);
  HnswGraph graph;
  bool read = r.Get(std::span<float>(vectors));
  uint32_t norm_shards = 1;
  if (h.kind == kKindHnsw) {
    graph.max_m = h.m;
    graph.max_m0 = h.max_m0;
    graph.links0.resize(size_t{h.num} * (1 + size_t{h.max_m0}));
    graph.upper_offsets.resize(size_t{h.num} + 1);
    graph.upper_links.resize(h.upper_links);
    read = read && r.Get(std::span<uint32_t>(graph.links0)) && r.Get(std::span<uint64_t>(graph.upper_offsets)) &&
           r.Get(std::span<uint32_t>(graph.upper_links));
    if (h.version == 1) {
      graph.entries = {{h.entry, h.max_level}};
      graph.shard.assign(h.num, 0);
    } else {
      graph.entries.resize(h.entry);
      graph.shard.resize(h.num);
      read = read && r.Get(std::span<HnswGraph::Entry>(graph.entries)) && r.Get(std::span<uint32_t>(graph.shard));
      norm_shards = h.max_level;
    }
  }
  if (!read) return fail("truncated while reading");
  if (!r.ChecksumMatches()) return fail("checksum mismatch (corrupted)");

  IndexFileData out;
  out.num = h.num;
  out.dim = static_cast<int>(h.dim);
  out.vectors = std::move(vectors);
  out.has_graph = h.kind == kKindHnsw;
  out.graph = std::move(graph);
  out.params = HnswParams{h.m, h.ef_construction, h.ef_search, norm_shards};
  return out;
}

}  // namespace funnel::retrieval
