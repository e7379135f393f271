#include "funnel/training/ranker_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "funnel/core/logging.h"
#include "funnel/core/thread_pool.h"
#include "funnel/eval/metrics.h"
#include "funnel/ranking/xgboost_trainer.h"

namespace funnel::training {

namespace {

using ranking::CandidateRanker;
using ranking::CandidateRows;

double Objective(const eval::MetricsSummary& s) { return 0.5 * (s.ndcg10.mean + s.recall20.mean); }

bool InTruth(const std::vector<ItemIdx>& truth, uint32_t item) {
  return std::binary_search(truth.begin(), truth.end(), ItemIdx{item});
}

// Training rows: every example of the chosen windows that has a positive and a negative among
// its rows (a user with neither teaches a ranker nothing), one group per example.
struct Matrix {
  std::vector<float> x, y;
  std::vector<uint32_t> groups;
  size_t cols = 0;
  size_t rows() const { return y.size(); }
};

void Append(const CandidateRows& r, const RankerExample& ex, Matrix* m) {
  size_t pos = 0;
  for (uint32_t j : r.candidate) pos += InTruth(*ex.truth, ex.candidates->items[j]);
  if (pos == 0 || pos == r.candidate.size()) return;
  m->cols = r.cols;
  m->x.insert(m->x.end(), r.values.begin(), r.values.end());
  for (uint32_t j : r.candidate) m->y.push_back(InTruth(*ex.truth, ex.candidates->items[j]) ? 1.0f : 0.0f);
  m->groups.push_back(static_cast<uint32_t>(r.candidate.size()));
}

ranking::XgboostData XgbData(const Matrix& m, bool grouped) {
  return {.features = {m.x, m.rows(), m.cols}, .labels = m.y, .weights = {},
          .groups = grouped ? std::span<const uint32_t>(m.groups) : std::span<const uint32_t>()};
}

std::vector<std::pair<std::string, std::string>> TreeParams(const std::string& kind, const RankerTrainOptions& o,
                                                            int threads) {
  const bool ranking = kind == "lambdamart";
  return {{"objective", ranking ? "rank:ndcg" : "binary:logistic"},
          {"eval_metric", ranking ? "ndcg@10" : "logloss"},
          {"max_depth", std::to_string(o.max_depth)},
          {"eta", fmt::format("{}", o.eta)},
          {"min_child_weight", fmt::format("{}", o.min_child_weight)},
          {"subsample", fmt::format("{}", o.subsample)},
          {"seed", "1"},
          {"nthread", std::to_string(threads)}};
}

// A kind fitted on `train` (trees stop early on `valid` when given, else run `rounds`).
StatusOr<std::shared_ptr<const CandidateRanker>> Fit(const std::string& kind, const Matrix& train, const Matrix* valid,
                                                     int rounds, const std::vector<std::string>& names,
                                                     const RankerTrainOptions& o, int threads, int* best_rounds) {
  if (kind == "logistic") {
    const std::vector<ranking::ColumnKind> kinds(train.cols, ranking::ColumnKind::kNumeric);
    FUNNEL_ASSIGN_OR_RETURN(ranking::LogisticRegression lr,
                            ranking::LogisticRegression::Train({.features = {train.x, train.rows(), train.cols},
                                                                .kinds = kinds, .labels = train.y, .weights = {}},
                                                               {}));
    return CandidateRanker::Create(kind, lr.Save(), names, o.depth);
  }
  const bool grouped = kind == "lambdamart";
  ranking::XgboostTrainOptions xo;
  xo.params = TreeParams(kind, o, threads);
  xo.num_boost_round = rounds;
  xo.early_stopping_rounds = valid != nullptr ? o.early_stopping_rounds : 0;
  const ranking::XgboostData t = XgbData(train, grouped);
  ranking::XgboostData v;
  if (valid != nullptr) v = XgbData(*valid, grouped);
  FUNNEL_ASSIGN_OR_RETURN(ranking::XgboostBooster b, ranking::XgboostBooster::Train(t, valid ? &v : nullptr, xo));
  *best_rounds = b.boosted_rounds();
  FUNNEL_ASSIGN_OR_RETURN(std::string json, b.SaveJson());
  return CandidateRanker::Create(kind, std::move(json), names, o.depth);
}

// The top 20 of each judged example (the fusion's, or the ranker's) and its metrics; pooled over
// windows by appending.
struct Scored {
  std::vector<eval::UserMetrics> per_user;
  std::vector<std::vector<ItemIdx>> tops;

  void Append(Scored&& more) {
    per_user.insert(per_user.end(), more.per_user.begin(), more.per_user.end());
    for (auto& t : more.tops) tops.push_back(std::move(t));
  }
  eval::MetricsSummary Summary() const {
    eval::MetricsAccumulator acc;
    for (size_t u = 0; u < per_user.size(); ++u) acc.Add(0, per_user[u], tops[u]);
    return acc.Overall();
  }
};

StatusOr<Scored> Evaluate(std::span<const RankerExample* const> judged, const CandidateRanker* ranker, int threads) {
  Scored out;
  out.per_user.resize(judged.size());
  out.tops.resize(judged.size());
  std::vector<Status> failed(judged.size());
  ParallelFor(judged.size(), threads, [&](size_t begin, size_t end, int) {
    CandidateRows scratch;
    for (size_t u = begin; u < end; ++u) {
      const RankerExample& ex = *judged[u];
      StatusOr<std::vector<retrieval::Candidate>> top =
          ranking::RankCandidates(*ex.candidates, *ex.user, *ex.merger, ranker, 20, &scratch, ex.store);
      if (!top.ok()) {
        failed[u] = top.status();
        continue;
      }
      for (const retrieval::Candidate& c : *top) out.tops[u].push_back(ItemIdx{c.item});
      out.per_user[u] = eval::ScoreList(out.tops[u], *ex.truth);
    }
  }, 8);
  for (const Status& s : failed) FUNNEL_RETURN_IF_ERROR(s);
  return out;
}

// Mean and standard error of the per-user NDCG@10 differences a - b.
std::pair<double, double> PairedNdcg(const Scored& a, const Scored& b) {
  const size_t n = a.per_user.size();
  if (n < 2) return {0, 0};
  double sum = 0, sq = 0;
  for (size_t u = 0; u < n; ++u) {
    const double d = a.per_user[u].ndcg10 - b.per_user[u].ndcg10;
    sum += d;
    sq += d * d;
  }
  const double mean = sum / static_cast<double>(n);
  const double var = std::max(0.0, (sq - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1));
  return {mean, std::sqrt(var / static_cast<double>(n))};
}

}  // namespace

StatusOr<TrainedRanker> TrainRanker(std::span<const RankerExample> examples, const RankerTrainOptions& options,
                                    int threads) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  TrainedRanker out;
  if (options.rankers.empty()) {
    out.verdict = "no ranker configured ([ranking] rankers is empty): the fusion serves";
    return out;
  }
  std::set<int> windows;
  for (const RankerExample& ex : examples) windows.insert(ex.window);
  if (windows.size() < 2) {
    out.verdict = Cat("skipped: it needs two validation windows (each is judged by rankers learned on the others), ",
                      "there ", windows.size() == 1 ? "is 1" : Cat("are ", windows.size()), "; the fusion serves");
    return out;
  }
  const ranking::CandidateFeatureSource* store = examples.front().store;
  const std::vector<std::string> names = ranking::CandidateFeatureNames(
      examples.front().merger->SourceNames(),
      store != nullptr ? std::span<const std::string>(store->names()) : std::span<const std::string>());

  // Every example's rows, computed by the serving code (candidate_features.h).
  std::vector<CandidateRows> rows(examples.size());
  ParallelFor(examples.size(), threads, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i)
      ranking::ComputeCandidateRows(*examples[i].candidates, *examples[i].user, *examples[i].merger, options.depth,
                                    &rows[i], examples[i].store);
  }, 8);
  // Per window: its rows and its users. Windows without a user who has both a positive and a
  // negative among their candidates teach and judge nothing.
  std::map<int, Matrix> by_window;
  std::map<int, std::vector<const RankerExample*>> users_of;
  for (size_t i = 0; i < examples.size(); ++i) {
    Append(rows[i], examples[i], &by_window[examples[i].window]);
    users_of[examples[i].window].push_back(&examples[i]);
  }
  rows.clear();
  std::vector<int> judged_windows;
  for (const auto& [w, m] : by_window)
    if (!m.groups.empty()) judged_windows.push_back(w);
  if (judged_windows.size() < 2) {
    out.verdict = Cat("skipped: fewer than two validation windows have a user who found a positive among their ",
                      "candidates; the fusion serves");
    return out;
  }
  auto rows_except = [&](int held_out) {
    Matrix m;
    for (int w : judged_windows) {
      if (w == held_out) continue;
      const Matrix& part = by_window[w];
      m.cols = part.cols;
      m.x.insert(m.x.end(), part.x.begin(), part.x.end());
      m.y.insert(m.y.end(), part.y.begin(), part.y.end());
      m.groups.insert(m.groups.end(), part.groups.begin(), part.groups.end());
    }
    return m;
  };
  size_t judged_users = 0, train_rows = 0;
  for (int w : judged_windows) {
    judged_users += users_of[w].size();
    train_rows += by_window[w].rows();
  }
  spdlog::info("ranking: {} rows over {} windows, {} users judged, each window by rankers learned on the others "
               "({:.1f} s)", train_rows, judged_windows.size(), judged_users, elapsed());

  // Cross-fitted: every window's users are judged by a ranker learned on the other windows
  // (trees stop early on the held-out window), so the choice rests on every validation user,
  // not on the newest window alone: on small data (ml-100k's newest window holds 34-67 users)
  // a choice on one window is mostly noise.
  Scored fusion;
  for (int w : judged_windows) {
    FUNNEL_ASSIGN_OR_RETURN(Scored got, Evaluate(users_of[w], nullptr, threads));
    fusion.Append(std::move(got));
  }
  const eval::MetricsSummary fusion_summary = fusion.Summary();
  const std::string where = Cat(judged_users, " users, ", judged_windows.size(), " windows");
  out.validation.push_back({"fusion, validation windows", where, fusion_summary});
  struct Tried {
    std::string kind;
    int rounds = 0;
    double objective = 0;
    std::pair<double, double> gain;
  };
  std::optional<Tried> best;
  for (const std::string& kind : options.rankers) {
    Scored got;
    double rounds_sum = 0;
    for (int w : judged_windows) {
      int rounds = 0;
      const Matrix train = rows_except(w);
      FUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<const CandidateRanker> r,
                              Fit(kind, train, &by_window[w], options.trees, names, options, threads, &rounds));
      rounds_sum += rounds;
      FUNNEL_ASSIGN_OR_RETURN(Scored part, Evaluate(users_of[w], r.get(), threads));
      got.Append(std::move(part));
    }
    const int rounds = static_cast<int>(std::lround(rounds_sum / static_cast<double>(judged_windows.size())));
    const eval::MetricsSummary s = got.Summary();
    const std::string params = kind == "logistic" ? std::string("L2, standardized")
                                                  : Cat(rounds, " trees (mean over windows), depth ", options.max_depth);
    out.validation.push_back({Cat("ranker ", kind), params, s});
    const Tried t{kind, rounds, Objective(s), PairedNdcg(got, fusion)};
    spdlog::info("ranking: {} NDCG@10 {:.4f} (fusion {:.4f}; {:.1f} s)", kind, s.ndcg10.mean,
                 fusion_summary.ndcg10.mean, elapsed());
    if (!best || t.objective > best->objective) best = t;
  }
  // The verdict names the objective the choice is made on, and NDCG@10's paired difference with
  // its standard error, so a reader can tell a clear win from noise.
  auto gains = [&](const Tried& t) {
    return fmt::format("objective (mean of NDCG@10 and Recall@20) {:+.4f}, NDCG@10 {:+.4f} ± {:.4f}",
                       t.objective - Objective(fusion_summary), t.gain.first, t.gain.second);
  };
  if (best->objective <= Objective(fusion_summary) + options.min_improvement) {
    out.verdict = Cat("the fusion serves: no ranker beat it on the validation windows (", where, "; best, ",
                      best->kind, ": ", gains(*best), ")");
    return out;
  }
  // Refit the winner on every window: the newest holds the data closest to serving.
  int rounds = 0;
  FUNNEL_ASSIGN_OR_RETURN(out.ranker, Fit(best->kind, rows_except(std::numeric_limits<int>::min()), nullptr,
                                          std::max(1, best->rounds), names, options, threads, &rounds));
  out.verdict = Cat("ranker ", best->kind, " serves: ", gains(*best), " over the fusion on the validation windows (",
                    where, ")");
  spdlog::info("ranking: {} ({:.1f} s)", out.verdict, elapsed());
  return out;
}

}  // namespace funnel::training
