// Why the index searches its own copy of hnswlib's graph instead of calling searchKnn:
// hnswlib 0.6.2's searchKnn takes its beam width from the mutable member `ef_` (set by setEf),
// so a per-request ef would mean mutating an index that other threads are searching, and it has
// no filter, so "k results not yet consumed" would need a guessed over-fetch. The layer-0 beam
// search below is the same algorithm (greedy descent through the upper levels, then a
// best-first beam of width ef on level 0) with ef and the filter taken from the request; all
// per-search state lives on the caller's stack or thread. Owning the graph also lets the file
// format be Funnel's own (versioned, checksummed) and lets Load validate every link, which
// hnswlib's loadIndex does not.
//
// hnswlib.h defines non-inline functions (cpuid, AVXCapable): it must be included by exactly one
// translation unit of a program, and this is it.
#include "retrieval/hnsw_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>

#include <Eigen/Core>
// hnswlib 0.6.2's SSE prefetch hints read the slot after the last link of a full upper-level
// list, up to 3 bytes past its allocation (inside malloc's rounding, and only to compute a
// prefetch address, so harmless in practice, but AddressSanitizer rightly reports it).
// Sanitizer builds use hnswlib's portable path, which has no such reads.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

#include "funnel/core/thread_pool.h"
#include "retrieval/exact_index.h"
#include "retrieval/top_k.h"
#include "retrieval/vector_index_io.h"

namespace funnel::retrieval {
namespace {

inline float Dot(const float* a, const float* b, int dim) {
  return Eigen::Map<const Eigen::VectorXf>(a, dim).dot(Eigen::Map<const Eigen::VectorXf>(b, dim));
}

// Marks of visited nodes, one array per thread reused across searches (a fresh tag per search
// makes clearing free), as hnswlib's VisitedListPool does. The array is moved out of the
// thread's slot for the duration of a search, so a search started from inside a filter
// callback on the same thread gets its own array instead of corrupting the outer one.
struct VisitedMarks {
  std::vector<uint16_t> marks;
  uint16_t tag = 0;
};

class VisitedLease {
 public:
  explicit VisitedLease(uint32_t num) : marks_(std::move(Slot())) {
    if (!marks_) marks_ = std::make_unique<VisitedMarks>();
    if (marks_->marks.size() < num) {
      marks_->marks.assign(num, 0);
      marks_->tag = 0;
    }
    if (++marks_->tag == 0) {
      std::fill(marks_->marks.begin(), marks_->marks.end(), 0);
      marks_->tag = 1;
    }
  }
  ~VisitedLease() { Slot() = std::move(marks_); }
  VisitedLease(const VisitedLease&) = delete;
  VisitedLease& operator=(const VisitedLease&) = delete;

  // True the first time `node` is seen in this search.
  bool Visit(uint32_t node) {
    if (marks_->marks[node] == marks_->tag) return false;
    marks_->marks[node] = marks_->tag;
    return true;
  }

 private:
  static std::unique_ptr<VisitedMarks>& Slot() {
    thread_local std::unique_ptr<VisitedMarks> slot;
    return slot;
  }
  std::unique_ptr<VisitedMarks> marks_;
};

bool ByScore(const Neighbor& a, const Neighbor& b) { return a.score < b.score; }

// Copies hnswlib's graph, translating its internal ids (insertion order, which differs from
// item order when several threads insert) to labels (= item ids).
HnswGraph ExtractGraph(const hnswlib::HierarchicalNSW<float>& hnsw, uint32_t num) {
  HnswGraph g;
  g.max_m = static_cast<uint32_t>(hnsw.maxM_);
  g.max_m0 = static_cast<uint32_t>(hnsw.maxM0_);
  std::vector<uint32_t> label_of(num);
  std::vector<uint32_t> levels(num);
  for (uint32_t i = 0; i < num; ++i) {
    label_of[i] = static_cast<uint32_t>(hnsw.getExternalLabel(i));
    levels[label_of[i]] = static_cast<uint32_t>(hnsw.element_levels_[i]);
  }
  g.upper_offsets.assign(size_t{num} + 1, 0);
  for (uint32_t id = 0; id < num; ++id)
    g.upper_offsets[id + 1] = g.upper_offsets[id] + uint64_t{levels[id]} * (1 + g.max_m);
  g.upper_links.assign(g.upper_offsets[num], 0);
  g.links0.assign(size_t{num} * (1 + g.max_m0), 0);
  auto copy = [&](const hnswlib::linklistsizeint* list, uint32_t* dst) {
    uint32_t count = hnsw.getListCount(const_cast<hnswlib::linklistsizeint*>(list));
    const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    dst[0] = count;
    for (uint32_t j = 0; j < count; ++j) dst[1 + j] = label_of[links[j]];
  };
  for (uint32_t i = 0; i < num; ++i) {
    uint32_t id = label_of[i];
    copy(hnsw.get_linklist0(i), g.links0.data() + size_t{id} * (1 + g.max_m0));
    for (uint32_t level = 1; level <= levels[id]; ++level)
      copy(hnsw.get_linklist(i, static_cast<int>(level)),
           g.upper_links.data() + g.upper_offsets[id] + size_t{level - 1} * (1 + g.max_m));
  }
  g.entry = label_of[hnsw.enterpoint_node_];
  g.max_level = static_cast<uint32_t>(hnsw.maxlevel_);
  return g;
}

}  // namespace

Status HnswGraph::Validate(uint32_t num) const {
  if (num == 0) return absl::InvalidArgumentError("a graph index needs at least one item");
  if (max_m == 0 || max_m0 == 0 || max_m0 > 65535 || max_m > 65535)
    return absl::DataLossError(Cat("bad link capacities M=", max_m, " M0=", max_m0));
  if (links0.size() != size_t{num} * (1 + max_m0))
    return absl::DataLossError("level-0 link table has the wrong size");
  if (upper_offsets.size() != size_t{num} + 1 || upper_offsets[0] != 0 ||
      upper_offsets[num] != upper_links.size())
    return absl::DataLossError("upper-level offsets do not match the link table");
  for (uint32_t i = 0; i < num; ++i) {
    if (upper_offsets[i + 1] < upper_offsets[i] || (upper_offsets[i + 1] - upper_offsets[i]) % (1 + max_m) != 0)
      return absl::DataLossError(Cat("node ", i, " has a malformed upper-level block"));
    if (Levels(i) > max_level) return absl::DataLossError(Cat("node ", i, " is above the top level"));
  }
  if (entry >= num || Levels(entry) != max_level)
    return absl::DataLossError(Cat("entry node ", entry, " is not on the top level ", max_level));
  for (uint32_t i = 0; i < num; ++i) {
    const uint32_t* list = Links0(i);
    if (list[0] > max_m0) return absl::DataLossError(Cat("node ", i, " has ", list[0], " level-0 links"));
    for (uint32_t j = 1; j <= list[0]; ++j)
      if (list[j] >= num) return absl::DataLossError(Cat("node ", i, " links to missing node ", list[j]));
    for (uint32_t level = 1; level <= Levels(i); ++level) {
      const uint32_t* up = Links(i, level);
      if (up[0] > max_m) return absl::DataLossError(Cat("node ", i, " has ", up[0], " links on level ", level));
      for (uint32_t j = 1; j <= up[0]; ++j)
        if (up[j] >= num || Levels(up[j]) < level)
          return absl::DataLossError(Cat("node ", i, " links to node ", up[j], " absent from level ", level));
    }
  }
  return absl::OkStatus();
}

HnswIndex::HnswIndex(std::vector<float> vectors, uint32_t num, int dim, HnswGraph graph, HnswParams params)
    : vectors_(std::move(vectors)), num_(num), dim_(dim), graph_(std::move(graph)), params_(params) {
  FUNNEL_CHECK(dim_ > 0 && num_ > 0);
  FUNNEL_CHECK(vectors_.size() == size_t{num_} * dim_);
}

StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Build(std::span<const float> vectors, uint32_t num,
                                                      int dim, const AnnOptions& options) {
  if (num == 0) return absl::InvalidArgumentError("a graph index needs at least one item");
  if (options.m < 2 || options.m > 10000 || options.ef_construction < 1 || options.ef_search < 1)
    return absl::InvalidArgumentError(Cat("bad HNSW options: m=", options.m, " (2..10000), ef_construction=",
                                          options.ef_construction, ", ef_search=", options.ef_search, " (>= 1)"));
  int threads = options.threads > 0 ? options.threads : HardwareThreads();
  // Inner-product search reduced to nearest neighbours on a sphere (Bachrach et al. 2014, the
  // transform implicit applies before its ANN indexes): each item gets one more component,
  // sqrt(max_norm² - |x|²), so all items have the same norm and a query padded with 0 has the
  // same inner products as before. HNSW's graph heuristics assume a metric; on raw vectors of
  // varying norms hnswlib's own search reaches only 0.68 recall@100 at ef=200 on the test's
  // topic vectors, against 0.99 after the transform. The graph is built on the augmented
  // vectors; searches score with the original ones (the extra component meets a 0).
  const size_t aug_dim = static_cast<size_t>(dim) + 1;
  std::vector<float> augmented(size_t{num} * aug_dim);
  {
    std::vector<double> norms(num);
    double max_norm = 0;
    for (uint32_t i = 0; i < num; ++i) {
      Eigen::Map<const Eigen::VectorXf> v(vectors.data() + size_t{i} * dim, dim);
      norms[i] = v.cast<double>().squaredNorm();
      max_norm = std::max(max_norm, norms[i]);
      std::copy(v.data(), v.data() + dim, augmented.data() + i * aug_dim);
      augmented[i * aug_dim + dim] = 0;
    }
    for (uint32_t i = 0; i < num; ++i)
      augmented[i * aug_dim + dim] = static_cast<float>(std::sqrt(std::max(0.0, max_norm - norms[i])));
  }
  try {
    hnswlib::InnerProductSpace space(aug_dim);
    hnswlib::HierarchicalNSW<float> hnsw(&space, num, static_cast<size_t>(options.m),
                                         static_cast<size_t>(options.ef_construction), options.seed);
    // The first point alone: it becomes the entry point that concurrent inserts descend from.
    hnsw.addPoint(augmented.data(), 0);
    std::mutex error_mutex;
    std::string error;
    std::atomic<bool> failed{false};
    // Concurrent addPoint is hnswlib's supported way to build in parallel (its own Python
    // binding does this). Its level draw is not locked, so a parallel build is not
    // reproducible run to run; a 1-thread build is.
    ParallelFor(
        num - 1, threads,
        [&](size_t begin, size_t end, int) {
          for (size_t i = begin + 1; i < end + 1 && !failed.load(std::memory_order_relaxed); ++i) {
            try {
              hnsw.addPoint(augmented.data() + i * aug_dim, i);
            } catch (const std::exception& e) {
              std::lock_guard lock(error_mutex);
              if (!failed.exchange(true)) error = e.what();
            }
          }
        },
        /*grain=*/64);
    if (failed) return absl::InternalError(Cat("building the HNSW index failed: ", error));
    HnswParams params{static_cast<uint32_t>(options.m), static_cast<uint32_t>(options.ef_construction),
                      static_cast<uint32_t>(options.ef_search)};
    HnswGraph graph = ExtractGraph(hnsw, num);
    FUNNEL_CHECK(graph.Validate(num).ok());
    return std::make_unique<HnswIndex>(std::vector<float>(vectors.begin(), vectors.begin() + size_t{num} * dim),
                                       num, dim, std::move(graph), params);
  } catch (const std::exception& e) {
    // hnswlib reports allocation failures by throwing.
    return absl::ResourceExhaustedError(Cat("building the HNSW index over ", num, " items failed: ", e.what()));
  }
}

void HnswIndex::Search(std::span<const float> queries, size_t n, const SearchParams& params,
                       std::vector<std::vector<Neighbor>>* out) const {
  FUNNEL_CHECK(queries.size() >= n * dim_);
  size_t ef = params.ef > 0 ? static_cast<size_t>(params.ef) : params_.ef_search;
  ef = std::max(ef, params.k);
  out->resize(n);
  for (size_t q = 0; q < n; ++q) (*out)[q] = SearchOne(queries.data() + q * dim_, params.k, ef, params.filter);
}

std::vector<Neighbor> HnswIndex::SearchOne(const float* query, size_t k, size_t ef,
                                           const std::function<bool(uint32_t)>& filter) const {
  if (k == 0) return {};
  // A beam as wide as the catalog visits everything anyway: a scan is cheaper and exact.
  if (ef >= num_) return ExactSearchOne(vectors_, num_, dim_, query, k, filter);

  // Greedy descent through the upper levels to a good level-0 starting node.
  uint32_t current = graph_.entry;
  float current_score = Dot(query, Vector(current), dim_);
  for (uint32_t level = graph_.max_level; level >= 1; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      const uint32_t* links = graph_.Links(current, level);
      for (uint32_t j = 1; j <= links[0]; ++j) {
        float s = Dot(query, Vector(links[j]), dim_);
        if (s > current_score) {
          current_score = s;
          current = links[j];
          moved = true;
        }
      }
    }
  }

  // Best-first beam on level 0. Nodes the filter rejects are still expanded (they connect the
  // graph) but never enter the results, and the search only stops once ef allowed nodes are
  // held, so heavy filtering widens the search instead of returning fewer than k.
  VisitedLease visited(num_);
  TopK results(ef);
  std::vector<Neighbor> candidates;  // max-heap by score
  candidates.reserve(ef * 2);
  visited.Visit(current);
  candidates.push_back({current, current_score});
  if (!filter || filter(current)) results.Push(current, current_score);
  while (!candidates.empty()) {
    Neighbor best = candidates.front();
    if (results.full() && best.score < results.worst().score) break;
    std::pop_heap(candidates.begin(), candidates.end(), ByScore);
    candidates.pop_back();
    const uint32_t* links = graph_.Links0(best.id);
    uint32_t count = links[0];
    for (uint32_t j = 1; j <= count; ++j) {
      uint32_t next = links[j];
      if (j < count) __builtin_prefetch(Vector(links[j + 1]));
      if (!visited.Visit(next)) continue;
      float s = Dot(query, Vector(next), dim_);
      if (results.full() && !(s > results.worst().score)) continue;
      candidates.push_back({next, s});
      std::push_heap(candidates.begin(), candidates.end(), ByScore);
      if (!filter || filter(next)) results.Push(next, s);
    }
  }
  std::vector<Neighbor> out = results.TakeSorted();
  if (out.size() > k) out.resize(k);
  return out;
}

Status HnswIndex::Save(const std::string& path) const {
  IndexFileContents contents;
  contents.num = num_;
  contents.dim = dim_;
  contents.vectors = vectors_;
  contents.graph = &graph_;
  contents.params = params_;
  return WriteIndexFile(path, contents);
}

}  // namespace funnel::retrieval
