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
// Why several graphs (norm-range shards), built on directions: a trained iALS model's item
// norms span orders of magnitude (popularity), and the k best inner products come almost all
// from the largest norms (at 100k items of a real model, 97% of a user's top 100 lie in the
// top 1/16 of norms). The standard reduction of inner-product search to nearest neighbours on a
// sphere (one more component, sqrt(max² - |x|²); Bachrach et al. 2014) let that component
// dominate: small-norm items crowd near one pole, where the graph's neighbourhoods say little
// about inner products. One such graph held recall@100 at ef 200 to 0.35 at 100k items. Split
// by norm into equal-size ranges, each with its own graph (norm-ranging, Yan et al. 2018), it
// reached 0.96 at 20k items but only 0.81 at 100k: even the top range (norms 0.55 to 2.3) is
// too wide for the augmented component, and a graph of just its 6k items reached 0.80.
// So each range's graph is built on its items' directions (unit vectors: an angular graph)
// and searched by the true inner product, as ip-NSW+ (Liu et al. 2019) guides inner-product
// search with an angular graph: inside one norm range the inner product is about |x|·cos, so
// the angular neighbourhoods are the ones the search needs. The same 6k-item range then
// reached 0.98 at ef 200.
// Searching: ranges from the largest norms down, skipping a range (and all later ones) once the
// k-th best score exceeds |q|·(its max norm), which no item in it can beat. The first range
// gets a beam of ef; later ranges, which hold few of the k best on skewed norms, a narrow beam
// (ef / 16) that widens on the fly: a node is also kept and expanded while it would enter the
// current top k. So a later range that still holds many of the best (vectors of even norms)
// is searched on, and one that holds none costs a descent and a few steps. Each later range
// used to get max(k, ef >> rank): on the same graphs at 100k items, 6,100 inner products per
// query for recall 0.982, against 2,950 now for the same recall (bench/ann_model_recall).
// Items with an all-zero vector (never seen in training) get no graph: they would all be the
// same point, and they score exactly 0 for every query, so a scan of their ids adds them
// exactly where the exact index ranks them (when fewer than k allowed items score above 0).
// Graphs built before (on augmented vectors) load and are searched the same way: the search
// only follows links and scores the original vectors.
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
#include "retrieval/dot_kernels.h"
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

// Orders a max-heap of candidates by score (a type rather than a function so that the heap
// operations inline it).
struct ByScore {
  bool operator()(const Neighbor& a, const Neighbor& b) const { return a.score < b.score; }
};

// Later norm ranges get a beam of ef / kLaterRangeBeamDivisor (see the top of this file). On a
// trained model's 100k item vectors (bench/ann_model_recall, 16 ranges, ef 200), fixed beams of
// 5 / 10 / 20 gave recall@100 0.980 / 0.982 / 0.982 (user queries) and 0.964 / 0.968 / 0.971
// (item queries) at 2,700 / 2,950 / 3,400 inner products per query; but at 20k items, where the
// later ranges hold a third of the best, a fixed 10 held item queries to 0.98 whatever the ef.
// ef / 16 costs the same at ef 200 and lets ef buy recall there too (0.981 / 0.992 / 0.999 at
// ef 200 / 400 / 800).
constexpr size_t kLaterRangeBeamDivisor = 16;

// One shard's graph as hnswlib built it, indexed by position in the shard's member list, with
// links already translated to item ids.
struct ShardGraph {
  uint32_t entry = 0;  // item id
  uint32_t max_level = 0;
  std::vector<uint32_t> levels;   // per position
  std::vector<uint32_t> links0;   // per position: (1 + max_m0) u32
  std::vector<std::vector<uint32_t>> upper;  // per position: levels · (1 + max_m) u32
};

// Copies hnswlib's graph, translating its internal ids (insertion order, which differs from
// label order when several threads insert) and labels (positions in `members`) to item ids.
ShardGraph ExtractShard(const hnswlib::HierarchicalNSW<float>& hnsw, std::span<const uint32_t> members,
                        uint32_t max_m, uint32_t max_m0) {
  const auto n = static_cast<uint32_t>(members.size());
  ShardGraph g;
  g.levels.assign(n, 0);
  g.links0.assign(size_t{n} * (1 + max_m0), 0);
  g.upper.resize(n);
  auto copy = [&](const hnswlib::linklistsizeint* list, uint32_t* dst) {
    uint32_t count = hnsw.getListCount(const_cast<hnswlib::linklistsizeint*>(list));
    const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    dst[0] = count;
    for (uint32_t j = 0; j < count; ++j) dst[1 + j] = members[hnsw.getExternalLabel(links[j])];
  };
  for (uint32_t internal = 0; internal < n; ++internal) {
    auto pos = static_cast<uint32_t>(hnsw.getExternalLabel(internal));
    uint32_t levels = static_cast<uint32_t>(hnsw.element_levels_[internal]);
    g.levels[pos] = levels;
    copy(hnsw.get_linklist0(internal), g.links0.data() + size_t{pos} * (1 + max_m0));
    g.upper[pos].assign(size_t{levels} * (1 + max_m), 0);
    for (uint32_t level = 1; level <= levels; ++level)
      copy(hnsw.get_linklist(internal, static_cast<int>(level)), g.upper[pos].data() + size_t{level - 1} * (1 + max_m));
  }
  g.entry = members[hnsw.getExternalLabel(hnsw.enterpoint_node_)];
  g.max_level = static_cast<uint32_t>(hnsw.maxlevel_);
  return g;
}

// Builds the graph of one shard with hnswlib, on its items' directions (see the top of this
// file). hnswlib reports allocation failures by throwing: the caller catches.
StatusOr<ShardGraph> BuildShard(std::span<const float> vectors, int dim, std::span<const uint32_t> members,
                                const AnnOptions& options, int threads) {
  const uint32_t n = static_cast<uint32_t>(members.size());
  const size_t stride = static_cast<size_t>(dim);
  std::vector<float> unit(size_t{n} * stride);
  for (uint32_t i = 0; i < n; ++i) {
    // Members have non-zero vectors; the norm in double because some trained factors have
    // components near 1e-25, whose squares underflow in float.
    Eigen::Map<const Eigen::VectorXf> v(vectors.data() + size_t{members[i]} * dim, dim);
    const double norm = std::sqrt(v.cast<double>().squaredNorm());
    Eigen::Map<Eigen::VectorXf>(unit.data() + i * stride, dim) = (v.cast<double>() / norm).cast<float>();
  }
  // Inner product of unit vectors: hnswlib's distance 1 - cos, an angular graph.
  hnswlib::InnerProductSpace space(stride);
  hnswlib::HierarchicalNSW<float> hnsw(&space, n, static_cast<size_t>(options.m),
                                       static_cast<size_t>(options.ef_construction), options.seed);
  // The first point alone: it becomes the entry point that concurrent inserts descend from.
  hnsw.addPoint(unit.data(), 0);
  std::mutex error_mutex;
  std::string error;
  std::atomic<bool> failed{false};
  // Concurrent addPoint is hnswlib's supported way to build in parallel (its own Python
  // binding does this). Its level draw is not locked, so a parallel build is not
  // reproducible run to run; a 1-thread build is.
  if (n > 1)
    ParallelFor(
        n - 1, threads,
        [&](size_t begin, size_t end, int) {
          for (size_t i = begin + 1; i < end + 1 && !failed.load(std::memory_order_relaxed); ++i) {
            try {
              hnsw.addPoint(unit.data() + i * stride, i);
            } catch (const std::exception& e) {
              std::lock_guard lock(error_mutex);
              if (!failed.exchange(true)) error = e.what();
            }
          }
        },
        /*grain=*/64);
  if (failed) return absl::InternalError(Cat("building the HNSW index failed: ", error));
  return ExtractShard(hnsw, members, static_cast<uint32_t>(hnsw.maxM_), static_cast<uint32_t>(hnsw.maxM0_));
}

}  // namespace

Status HnswGraph::Validate(uint32_t num) const {
  if (num == 0) return absl::InvalidArgumentError("a graph index needs at least one item");
  if (max_m == 0 || max_m0 == 0 || max_m0 > 65535 || max_m > 65535)
    return absl::DataLossError(Cat("bad link capacities M=", max_m, " M0=", max_m0));
  if (entries.size() > num) return absl::DataLossError(Cat(entries.size(), " shards for ", num, " items"));
  if (shard.size() != num) return absl::DataLossError("shard table has the wrong size");
  if (links0.size() != size_t{num} * (1 + max_m0))
    return absl::DataLossError("level-0 link table has the wrong size");
  if (upper_offsets.size() != size_t{num} + 1 || upper_offsets[0] != 0 ||
      upper_offsets[num] != upper_links.size())
    return absl::DataLossError("upper-level offsets do not match the link table");
  for (uint32_t i = 0; i < num; ++i) {
    if (upper_offsets[i + 1] < upper_offsets[i] || (upper_offsets[i + 1] - upper_offsets[i]) % (1 + max_m) != 0)
      return absl::DataLossError(Cat("node ", i, " has a malformed upper-level block"));
    if (shard[i] == kUnindexed) {
      if (Levels(i) != 0 || Links0(i)[0] != 0) return absl::DataLossError(Cat("unindexed node ", i, " has links"));
      continue;
    }
    if (shard[i] >= entries.size()) return absl::DataLossError(Cat("node ", i, " is in missing shard ", shard[i]));
    if (Levels(i) > entries[shard[i]].level) return absl::DataLossError(Cat("node ", i, " is above its shard's top level"));
  }
  for (size_t s = 0; s < entries.size(); ++s)
    if (entries[s].node >= num || shard[entries[s].node] != s || Levels(entries[s].node) != entries[s].level)
      return absl::DataLossError(Cat("entry node ", entries[s].node, " of shard ", s, " is not on its top level ",
                                     entries[s].level));
  for (uint32_t i = 0; i < num; ++i) {
    const uint32_t* list = Links0(i);
    if (list[0] > max_m0) return absl::DataLossError(Cat("node ", i, " has ", list[0], " level-0 links"));
    for (uint32_t j = 1; j <= list[0]; ++j) {
      if (list[j] >= num) return absl::DataLossError(Cat("node ", i, " links to missing node ", list[j]));
      if (shard[list[j]] != shard[i]) return absl::DataLossError(Cat("node ", i, " links outside its shard"));
    }
    for (uint32_t level = 1; level <= Levels(i); ++level) {
      const uint32_t* up = Links(i, level);
      if (up[0] > max_m) return absl::DataLossError(Cat("node ", i, " has ", up[0], " links on level ", level));
      for (uint32_t j = 1; j <= up[0]; ++j)
        if (up[j] >= num || shard[up[j]] != shard[i] || Levels(up[j]) < level)
          return absl::DataLossError(Cat("node ", i, " links to node ", up[j], " absent from level ", level));
    }
  }
  return absl::OkStatus();
}

HnswIndex::HnswIndex(std::vector<float> vectors, uint32_t num, int dim, HnswGraph graph, HnswParams params)
    : vectors_(std::move(vectors)), num_(num), dim_(dim), graph_(std::move(graph)), params_(params) {
  FUNNEL_CHECK(dim_ > 0 && num_ > 0);
  FUNNEL_CHECK(vectors_.size() == size_t{num_} * dim_);
  FUNNEL_CHECK(graph_.shard.size() == num_);
  const size_t shards = graph_.entries.size();
  shard_max_norm_.assign(shards, 0);
  shard_members_.resize(shards);
  for (uint32_t i = 0; i < num_; ++i) {
    float norm = Eigen::Map<const Eigen::VectorXf>(Vector(i), dim_).norm();
    uint32_t s = graph_.shard[i];
    if (s == HnswGraph::kUnindexed) {
      // The scan that serves these gives them the score 0 without computing it.
      FUNNEL_CHECK(norm == 0);
      unindexed_.push_back(i);
      continue;
    }
    shard_max_norm_[s] = std::max(shard_max_norm_[s], norm);
    shard_members_[s].push_back(i);
  }
  shard_order_.resize(shards);
  for (uint32_t s = 0; s < shards; ++s) shard_order_[s] = s;
  std::stable_sort(shard_order_.begin(), shard_order_.end(),
                   [&](uint32_t a, uint32_t b) { return shard_max_norm_[a] > shard_max_norm_[b]; });
}

StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Build(std::span<const float> vectors, uint32_t num,
                                                      int dim, const AnnOptions& options) {
  if (num == 0) return absl::InvalidArgumentError("a graph index needs at least one item");
  if (options.m < 2 || options.m > 10000 || options.ef_construction < 1 || options.ef_search < 1 ||
      options.norm_shards < 1 || options.norm_shards > kMaxNormShards)
    return absl::InvalidArgumentError(Cat("bad HNSW options: m=", options.m, " (2..10000), ef_construction=",
                                          options.ef_construction, ", ef_search=", options.ef_search,
                                          " (>= 1), norm_shards=", options.norm_shards, " (1..", kMaxNormShards, ")"));
  int threads = options.threads > 0 ? options.threads : HardwareThreads();
  // Not one graph on the raw vectors: HNSW's graph heuristics assume a metric, and on raw
  // vectors of varying norms hnswlib's own inner-product search reaches only 0.68 recall@100 at
  // ef=200 on the test's topic vectors. Norm ranges with angular graphs: see the top of this file.
  std::vector<std::pair<double, uint32_t>> by_norm;  // non-zero items
  for (uint32_t i = 0; i < num; ++i) {
    double norm = Eigen::Map<const Eigen::VectorXf>(vectors.data() + size_t{i} * dim, dim).cast<double>().squaredNorm();
    if (norm > 0) by_norm.push_back({norm, i});
  }
  std::sort(by_norm.begin(), by_norm.end());
  const auto shards = static_cast<uint32_t>(std::min<size_t>(options.norm_shards, by_norm.size()));
  HnswGraph graph;
  graph.max_m = static_cast<uint32_t>(options.m);
  graph.max_m0 = 2 * graph.max_m;  // hnswlib's choice; the shards' own values replace it below
  graph.shard.assign(num, HnswGraph::kUnindexed);
  std::vector<std::vector<uint32_t>> members(shards);
  std::vector<ShardGraph> built(shards);
  try {
    for (uint32_t s = 0; s < shards; ++s) {
      // Equal-sized norm ranges; members in id order, so insertion order does not follow norm.
      size_t begin = by_norm.size() * s / shards, end = by_norm.size() * (s + 1) / shards;
      for (size_t r = begin; r < end; ++r) members[s].push_back(by_norm[r].second);
      std::sort(members[s].begin(), members[s].end());
      for (uint32_t id : members[s]) graph.shard[id] = s;
      FUNNEL_ASSIGN_OR_RETURN(built[s], BuildShard(vectors, dim, members[s], options, threads));
    }
  } catch (const std::exception& e) {
    // hnswlib reports allocation failures by throwing.
    return absl::ResourceExhaustedError(Cat("building the HNSW index over ", num, " items failed: ", e.what()));
  }
  // One set of tables indexed by item id: a search then needs no translation between shards.
  std::vector<uint32_t> levels(num, 0);
  for (uint32_t s = 0; s < shards; ++s)
    for (size_t p = 0; p < members[s].size(); ++p) levels[members[s][p]] = built[s].levels[p];
  if (shards > 0) graph.max_m0 = static_cast<uint32_t>(built[0].links0.size() / members[0].size()) - 1;
  graph.upper_offsets.assign(size_t{num} + 1, 0);
  for (uint32_t id = 0; id < num; ++id)
    graph.upper_offsets[id + 1] = graph.upper_offsets[id] + uint64_t{levels[id]} * (1 + graph.max_m);
  graph.upper_links.assign(graph.upper_offsets[num], 0);
  graph.links0.assign(size_t{num} * (1 + graph.max_m0), 0);
  for (uint32_t s = 0; s < shards; ++s) {
    graph.entries.push_back({built[s].entry, built[s].max_level});
    for (size_t p = 0; p < members[s].size(); ++p) {
      uint32_t id = members[s][p];
      std::copy_n(built[s].links0.data() + p * (1 + graph.max_m0), 1 + graph.max_m0,
                  graph.links0.data() + size_t{id} * (1 + graph.max_m0));
      std::copy(built[s].upper[p].begin(), built[s].upper[p].end(), graph.upper_links.data() + graph.upper_offsets[id]);
    }
    built[s] = ShardGraph{};
  }
  FUNNEL_CHECK(graph.Validate(num).ok());
  HnswParams params{static_cast<uint32_t>(options.m), static_cast<uint32_t>(options.ef_construction),
                    static_cast<uint32_t>(options.ef_search), static_cast<uint32_t>(options.norm_shards)};
  return std::make_unique<HnswIndex>(std::vector<float>(vectors.begin(), vectors.begin() + size_t{num} * dim), num,
                                     dim, std::move(graph), params);
}

void HnswIndex::Search(std::span<const float> queries, size_t n, const SearchParams& params,
                       std::vector<std::vector<Neighbor>>* out) const {
  FUNNEL_CHECK(queries.size() >= n * dim_);
  size_t ef = params.ef > 0 ? static_cast<size_t>(params.ef) : params_.ef_search;
  ef = std::max(ef, params.k);
  out->resize(n);
  for (size_t q = 0; q < n; ++q) (*out)[q] = SearchOne(queries.data() + q * dim_, params.k, ef, params.filter);
}

// Per-query state of a search, shared by the ranges it visits.
struct HnswIndex::SearchState {
  explicit SearchState(const HnswGraph& graph, uint32_t num)
      : visited(num), ids(std::max(graph.max_m0, graph.max_m)), scores(ids.size()) {}
  VisitedLease visited;
  std::vector<uint32_t> ids;     // a node's links to score
  std::vector<float> scores;     // their inner products with the query
  std::vector<Neighbor> candidates;  // the beam's frontier, a max-heap by score
};

std::vector<Neighbor> HnswIndex::SearchOne(const float* query, size_t k, size_t ef,
                                           const std::function<bool(uint32_t)>& filter) const {
  if (k == 0) return {};
  // A beam as wide as the catalog visits everything anyway: a scan is cheaper and exact.
  if (ef >= num_) return ExactSearchOne(vectors_, num_, dim_, query, k, filter);
  const float query_norm = Eigen::Map<const Eigen::VectorXf>(query, dim_).norm();
  TopK top(k);
  SearchState state(graph_, num_);
  for (size_t rank = 0; rank < shard_order_.size(); ++rank) {
    const uint32_t s = shard_order_[rank];
    // No item of this shard (nor of the later ones, of smaller norms) can score above
    // |q|·max|x|; the slack covers float rounding of the dot products.
    float bound = query_norm * shard_max_norm_[s];
    if (top.full() && top.worst().score > bound + 1e-4f * std::abs(bound)) break;
    const std::vector<uint32_t>& members = shard_members_[s];
    // A range no larger than ef costs at most ef inner products to scan: no more than a beam
    // search would spend on it, and exact.
    if (ef >= members.size()) {
      state.scores.resize(std::max(state.scores.size(), members.size()));
      internal::DotRowsGather(vectors_.data(), members.data(), static_cast<uint32_t>(members.size()), dim_, query,
                              state.scores.data());
      for (size_t i = 0; i < members.size(); ++i)
        if (top.Admits(members[i], state.scores[i]) && (!filter || filter(members[i])))
          top.Push(members[i], state.scores[i]);
    } else {
      SearchShard(s, query, rank == 0 ? ef : std::max<size_t>(1, ef / kLaterRangeBeamDivisor), filter, &state, &top);
    }
  }
  // Zero vectors score exactly 0: they belong in the results only while fewer than k allowed
  // items score above 0. Ids ascend, so the first one refused ends the scan.
  if (!top.full() || top.worst().score <= 0)
    for (uint32_t id : unindexed_) {
      if (!top.Admits(id, 0.0f)) break;
      if (!filter || filter(id)) top.Push(id, 0.0f);
    }
  return top.TakeSorted();
}

uint32_t HnswIndex::ScoreLinks(const uint32_t* links, uint32_t count, const float* query, SearchState* state) const {
  uint32_t n = 0;
  for (uint32_t j = 0; j < count; ++j) {
    const uint32_t id = links[j];
    if (!state->visited.Visit(id)) continue;
    PrefetchRow(id);
    state->ids[n++] = id;
  }
  internal::DotRowsGather(vectors_.data(), state->ids.data(), n, dim_, query, state->scores.data());
  return n;
}

void HnswIndex::SearchShard(uint32_t shard, const float* query, size_t beam,
                            const std::function<bool(uint32_t)>& filter, SearchState* state, TopK* top) const {
  // Greedy descent through the upper levels to a good level-0 starting node.
  uint32_t current = graph_.entries[shard].node;
  float current_score = Dot(query, Vector(current), dim_);
  for (uint32_t level = graph_.entries[shard].level; level >= 1; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      const uint32_t* links = graph_.Links(current, level);
      for (uint32_t j = 1; j <= links[0]; ++j) PrefetchRow(links[j]);
      internal::DotRowsGather(vectors_.data(), links + 1, links[0], dim_, query, state->scores.data());
      for (uint32_t j = 0; j < links[0]; ++j)
        if (state->scores[j] > current_score) {
          current_score = state->scores[j];
          current = links[1 + j];
          moved = true;
        }
    }
  }

  // Best-first beam on level 0, `beam` wide, and wider where nodes would enter the top k
  // (see the top of this file). Nodes the filter rejects are still expanded (they connect the
  // graph) but never enter the results, and the search only stops once `beam` allowed nodes
  // are held, so heavy filtering widens the search instead of returning fewer than k.
  TopK local(beam);
  auto improves = [&](float score) {
    return !local.full() || score > local.worst().score || !top->full() || score > top->worst().score;
  };
  auto keep = [&](uint32_t id, float score) {
    if (filter && !filter(id)) return;
    local.Push(id, score);
    top->Push(id, score);
  };
  std::vector<Neighbor>& candidates = state->candidates;
  candidates.clear();
  state->visited.Visit(current);
  candidates.push_back({current, current_score});
  keep(current, current_score);
  while (!candidates.empty()) {
    const Neighbor best = candidates.front();
    if (local.full() && best.score < local.worst().score && top->full() && best.score < top->worst().score) break;
    std::pop_heap(candidates.begin(), candidates.end(), ByScore{});
    candidates.pop_back();
    const uint32_t* links = graph_.Links0(best.id);
    const uint32_t fresh = ScoreLinks(links + 1, links[0], query, state);
    for (uint32_t i = 0; i < fresh; ++i) {
      const float score = state->scores[i];
      if (!improves(score)) continue;
      candidates.push_back({state->ids[i], score});
      std::push_heap(candidates.begin(), candidates.end(), ByScore{});
      keep(state->ids[i], score);
    }
  }
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
