// The logistic regression baseline on synthetic data with a known answer: labels drawn from a
// true logistic model over numeric, categorical and crossed features, so the fitted weights'
// signs and order and the held-out AUC can be checked against the truth. Also: missing values,
// determinism, the saved format, and what bad input answers.
#include "funnel/ranking/logistic_regression.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace funnel::ranking {
namespace {

using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using K = ColumnKind;

// AUC by ranks (Mann-Whitney), ties counted half: computed here, independent of the model code.
double Auc(const std::vector<float>& score, const std::vector<float>& label) {
  std::vector<size_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  double rank_sum = 0, pos = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j < idx.size() && score[idx[j]] == score[idx[i]]) ++j;
    double mid_rank = (i + 1 + j) / 2.0;  // ranks i+1..j averaged
    for (size_t k = i; k < j; ++k)
      if (label[idx[k]] > 0.5) rank_sum += mid_rank, ++pos;
    i = j;
  }
  double neg = score.size() - pos;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

double Logistic(double m) { return 1 / (1 + std::exp(-m)); }

// Columns: 0 numeric N(5, 2), true weight +1.5 per std; 1 numeric N(-3, 10), -1 per std;
// 2 numeric noise, weight 0; 3 categorical codes 0..4 with effects -1, -0.5, 0, 0.5, 1;
// 4 and 5 binary categorical whose effect exists only jointly: +1.5 when they differ, -1.5 when
// equal (XOR), so each alone says nothing.
struct Synthetic {
  static constexpr size_t kCols = 6;
  std::vector<ColumnKind> kinds = {K::kNumeric, K::kNumeric, K::kNumeric,
                                   K::kCategorical, K::kCategorical, K::kCategorical};
  std::vector<float> x, y, true_logit;
  size_t rows = 0;
  DenseMatrixView view() const { return {x, rows, kCols}; }
  LogisticRegressionData data() const { return {view(), kinds, y, {}}; }
};

Synthetic MakeSynthetic(size_t rows, uint64_t seed, double missing_rate = 0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> u01(0, 1);
  std::uniform_int_distribution<int> code(0, 4), bit(0, 1);
  Synthetic s;
  s.rows = rows;
  for (size_t r = 0; r < rows; ++r) {
    double z0 = normal(rng), z1 = normal(rng), z2 = normal(rng);
    int c3 = code(rng), a = bit(rng), b = bit(rng);
    double logit = 1.5 * z0 - 1.0 * z1 + 0.5 * (c3 - 2) + (a != b ? 1.5 : -1.5);
    float v0 = static_cast<float>(5 + 2 * z0);
    if (u01(rng) < missing_rate) v0 = kNaN;
    s.x.insert(s.x.end(), {v0, static_cast<float>(-3 + 10 * z1), static_cast<float>(z2),
                           float(c3), float(a), float(b)});
    s.true_logit.push_back(static_cast<float>(logit));
    s.y.push_back(u01(rng) < Logistic(logit) ? 1.0f : 0.0f);
  }
  return s;
}

LogisticRegressionOptions WithXorCross() {
  LogisticRegressionOptions opt;
  opt.crosses = {{4, 5}};
  return opt;
}

TEST(LogisticRegressionTest, RecoversSignsAndOrderOfKnownWeights) {
  Synthetic s = MakeSynthetic(20000, 1);
  auto m = LogisticRegression::Train(s.data(), WithXorCross());
  ASSERT_TRUE(m.ok()) << m.status();
  // Standardization is stored: the fitted mean/std are the generator's.
  EXPECT_NEAR(m->mean(0), 5, 0.1);
  EXPECT_NEAR(m->stddev(0), 2, 0.1);
  EXPECT_NEAR(m->numeric_weight(0), 1.5, 0.3);
  EXPECT_NEAR(m->numeric_weight(1), -1.0, 0.25);
  EXPECT_NEAR(m->numeric_weight(2), 0.0, 0.1);
  for (int c = 0; c < 4; ++c)
    EXPECT_LT(m->CategoryWeight(3, float(c)), m->CategoryWeight(3, float(c + 1))) << "code " << c;
  float differ = std::min(m->CrossWeight(4, 0, 5, 1), m->CrossWeight(4, 1, 5, 0));
  float equal = std::max(m->CrossWeight(4, 0, 5, 0), m->CrossWeight(4, 1, 5, 1));
  std::printf("weights per std: %.3f %.3f %.3f (truth 1.5 -1 0); xor cross gap %.3f (truth 3)\n",
              m->numeric_weight(0), m->numeric_weight(1), m->numeric_weight(2), differ - equal);
  EXPECT_GT(differ - equal, 2.0);  // truth: 3
}

TEST(LogisticRegressionTest, CrossLearnsXorThatPlainFeaturesCannot) {
  // Only the two XOR columns: label 1 with probability 0.9 when they differ, 0.1 when equal.
  // The best possible AUC is 0.9 (two score levels: 0.81 + half of the 0.18 tied).
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> bit(0, 1);
  std::uniform_real_distribution<double> u01(0, 1);
  auto make = [&](size_t rows, std::vector<float>& x, std::vector<float>& y) {
    for (size_t r = 0; r < rows; ++r) {
      int a = bit(rng), b = bit(rng);
      x.insert(x.end(), {float(a), float(b)});
      y.push_back(u01(rng) < (a != b ? 0.9 : 0.1) ? 1.0f : 0.0f);
    }
  };
  std::vector<float> x, y, tx, ty;
  make(5000, x, y);
  make(2000, tx, ty);
  std::vector<ColumnKind> kinds = {K::kCategorical, K::kCategorical};
  LogisticRegressionData data{{x, 5000, 2}, kinds, y, {}};

  auto plain = LogisticRegression::Train(data, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  auto crossed = LogisticRegression::Train(data, [] {
    LogisticRegressionOptions o;
    o.crosses = {{0, 1}};
    return o;
  }());
  ASSERT_TRUE(crossed.ok()) << crossed.status();
  double auc_plain = Auc(*plain->Predict({tx, 2000, 2}), ty);
  double auc_crossed = Auc(*crossed->Predict({tx, 2000, 2}), ty);
  std::printf("xor held-out AUC: plain %.4f, with the cross %.4f (best possible 0.9)\n", auc_plain,
              auc_crossed);
  EXPECT_LT(auc_plain, 0.56);
  EXPECT_GT(auc_crossed, 0.88);
}

TEST(LogisticRegressionTest, HeldOutAucIsCloseToTheTrueModels) {
  Synthetic train = MakeSynthetic(20000, 2), test = MakeSynthetic(10000, 3);
  auto m = LogisticRegression::Train(train.data(), WithXorCross());
  ASSERT_TRUE(m.ok()) << m.status();
  auto p = m->Predict(test.view());
  ASSERT_TRUE(p.ok()) << p.status();
  double auc = Auc(*p, test.y), auc_truth = Auc(test.true_logit, test.y);
  // Calibration in the large: the mean prediction is the base rate.
  double mean_p = std::accumulate(p->begin(), p->end(), 0.0) / p->size();
  double base = std::accumulate(test.y.begin(), test.y.end(), 0.0) / test.y.size();
  std::printf("held-out AUC %.4f (true model %.4f); mean p %.4f, base rate %.4f\n", auc, auc_truth,
              mean_p, base);
  EXPECT_GT(auc, 0.85);
  EXPECT_GT(auc, auc_truth - 0.01);
  EXPECT_NEAR(mean_p, base, 0.02);
}

TEST(LogisticRegressionTest, MissingNumericValuesUseTheirIndicator) {
  // 30% of column 0 missing, and missing rows are mostly positive (logit +2, where the present
  // rows average 0): the indicator must learn a large positive weight.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> u01(0, 1);
  const size_t n = 10000;
  std::vector<float> x, y;
  for (size_t r = 0; r < n; ++r) {
    bool missing = u01(rng) < 0.3;
    double z = normal(rng);
    double cat = u01(rng) < 0.2 ? kNaN : float(r % 3);  // missing categories too
    x.insert(x.end(), {missing ? kNaN : static_cast<float>(z), static_cast<float>(cat)});
    y.push_back(u01(rng) < Logistic(missing ? 2.0 : z) ? 1.0f : 0.0f);
  }
  std::vector<ColumnKind> kinds = {K::kNumeric, K::kCategorical};
  auto m = LogisticRegression::Train({{x, n, 2}, kinds, y, {}}, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->missing_weight(0), 1.5);
  EXPECT_NEAR(m->numeric_weight(0), 1.0, 0.2);
  std::vector<float> rows = {kNaN, kNaN, 0.0f, kNaN, kNaN, 1.0f};
  auto p = m->Predict({rows, 3, 2});
  ASSERT_TRUE(p.ok()) << p.status();
  for (float v : *p) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT((*p)[0], 0.8);                // missing: logistic(2) = 0.88
  EXPECT_NEAR((*p)[1], 0.5, 0.06);        // the mean of the present values: logit 0
}

TEST(LogisticRegressionTest, RowWeightsCountLikeRepeatedRows) {
  // One constant row, labelled 1 with weight 3 and 0 with weight 1: the optimum is p = 0.75. A
  // row of weight 0 with a wild value changes nothing, not even the standardization.
  std::vector<float> x, y, w;
  for (int i = 0; i < 1000; ++i) x.push_back(1), y.push_back(1), w.push_back(3);
  for (int i = 0; i < 1000; ++i) x.push_back(1), y.push_back(0), w.push_back(1);
  x.push_back(1e6f), y.push_back(0), w.push_back(0);
  std::vector<ColumnKind> kinds = {K::kNumeric};
  auto m = LogisticRegression::Train({{x, 2001, 1}, kinds, y, w}, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->mean(0), 1.0);
  std::vector<float> row = {1};
  EXPECT_NEAR((*m->Predict({row, 1, 1}))[0], 0.75, 0.02);
}

TEST(LogisticRegressionTest, TrainingIsDeterministic) {
  Synthetic s = MakeSynthetic(3000, 4, 0.1);
  auto a = LogisticRegression::Train(s.data(), WithXorCross());
  auto b = LogisticRegression::Train(s.data(), WithXorCross());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Save(), b->Save());
  LogisticRegressionOptions other = WithXorCross();
  other.seed = 2;
  auto c = LogisticRegression::Train(s.data(), other);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->Save(), c->Save());  // the seed is what orders the rows
}

TEST(LogisticRegressionTest, SaveLoadRoundTripGivesIdenticalPredictions) {
  Synthetic s = MakeSynthetic(3000, 5, 0.1), test = MakeSynthetic(1000, 6, 0.1);
  auto m = LogisticRegression::Train(s.data(), WithXorCross());
  ASSERT_TRUE(m.ok());
  std::string bytes = m->Save();
  auto loaded = LogisticRegression::Load(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->Save(), bytes);
  EXPECT_EQ(loaded->kinds(), m->kinds());
  EXPECT_EQ(loaded->crosses(), m->crosses());
  EXPECT_EQ(loaded->hash_bits(), 18);
  std::vector<float> before(1000), after(1000);
  ASSERT_TRUE(m->Margins(test.view(), before).ok());
  ASSERT_TRUE(loaded->Margins(test.view(), after).ok());
  EXPECT_EQ(before, after);  // bit for bit
  // Sparse storage: a few dozen touched buckets, not 2^18 of them.
  EXPECT_LT(bytes.size(), 2000u);
}

TEST(LogisticRegressionTest, LoadRejectsCorruptOrTruncatedBytes) {
  Synthetic s = MakeSynthetic(500, 8);
  std::string bytes = LogisticRegression::Train(s.data(), WithXorCross())->Save();
  EXPECT_THAT(std::string(MessageOf(LogisticRegression::Load("junk").status())), HasSubstr("magic"));
  for (size_t keep : {size_t{4}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    auto r = LogisticRegression::Load(std::string_view(bytes).substr(0, keep));
    EXPECT_FALSE(r.ok()) << "kept " << keep << " bytes";
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  EXPECT_THAT(std::string(MessageOf(LogisticRegression::Load(flipped).status())),
              HasSubstr("checksum"));
  std::string newer = bytes;
  newer[4] = 9;  // the version's low byte
  EXPECT_THAT(std::string(MessageOf(LogisticRegression::Load(newer).status())),
              HasSubstr("version 9"));
}

TEST(LogisticRegressionTest, BadInputGivesAClearError) {
  std::vector<float> x = {1, 0, 2, 1, 3, 0}, y = {1, 0, 1};
  std::vector<ColumnKind> kinds = {K::kNumeric, K::kCategorical};
  auto error = [](const StatusOr<LogisticRegression>& r) {
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(MessageOf(r.status()));
  };
  LogisticRegressionOptions opt;
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 3}, kinds, y, {}}, opt)),
              HasSubstr("2 column kinds for 3 columns"));
  EXPECT_THAT(error(LogisticRegression::Train({{x, 4, 2}, kinds, y, {}}, opt)),
              HasSubstr("6 values for 4 rows x 2 columns"));
  std::vector<float> short_y = {1, 0};
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, short_y, {}}, opt)),
              HasSubstr("2 labels for 3 rows"));
  std::vector<float> w = {1, 1};
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, y, w}, opt)),
              HasSubstr("2 weights for 3 rows"));
  std::vector<float> bad_y = {1, 2, 0};
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, bad_y, {}}, opt)),
              HasSubstr("label of row 1 is 2"));
  std::vector<float> frac = {1, 0, 2, 1.5f, 3, 0};
  EXPECT_THAT(error(LogisticRegression::Train({{frac, 3, 2}, kinds, y, {}}, opt)),
              HasSubstr("row 1, column 1 is categorical but holds 1.5, not an integer code"));
  std::vector<float> inf = {1, 0, std::numeric_limits<float>::infinity(), 1, 3, 0};
  EXPECT_THAT(error(LogisticRegression::Train({{inf, 3, 2}, kinds, y, {}}, opt)),
              HasSubstr("row 1, column 0 is inf"));
  LogisticRegressionOptions cross_numeric;
  cross_numeric.crosses = {{0, 1}};
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, y, {}}, cross_numeric)),
              HasSubstr("must join two categorical columns"));
  LogisticRegressionOptions cross_range;
  cross_range.crosses = {{1, 5}};
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, y, {}}, cross_range)),
              HasSubstr("two different columns below 2"));
  LogisticRegressionOptions bits;
  bits.hash_bits = 40;
  EXPECT_THAT(error(LogisticRegression::Train({{x, 3, 2}, kinds, y, {}}, bits)),
              HasSubstr("hash_bits must be in 1..24"));
  EXPECT_THAT(error(LogisticRegression::Train({{{}, 0, 2}, kinds, {}, {}}, opt)),
              HasSubstr("no training rows"));

  // Prediction checks the same way.
  auto m = LogisticRegression::Train({{x, 3, 2}, kinds, y, {}}, opt);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<float> out(3);
  EXPECT_THAT(std::string(MessageOf(m->Predict({x, 2, 3}, out))), HasSubstr("3 columns, the model has 2"));
  EXPECT_THAT(std::string(MessageOf(m->Predict({x, 3, 2}, std::span(out).first(2)))),
              HasSubstr("2 slots for 3 rows"));
  EXPECT_THAT(std::string(MessageOf(m->Predict({frac, 3, 2}, out))), HasSubstr("not an integer code"));
}

}  // namespace
}  // namespace funnel::ranking
