// Why Adagrad SGD and not full-batch L-BFGS: the model has 2^18 hashed weights but a row touches
// only a few dozen of them, so one SGD step costs O(active features) and a pass over a million
// rows takes well under a second, with no per-epoch dense gradient over all buckets. Adagrad's
// per-coordinate step (lr / sqrt(sum of squared gradients)) suits exactly this mix: frequent
// features (standardized numerics, the bias) settle with small steps while rare category buckets
// keep large ones, so one learning rate works for both and the default needs no tuning per data
// set. L2 is applied "lazily", to the weights a row activates, at that row's step: that is the
// gradient of the objective written in the header, and it keeps a step sparse. Determinism
// comes from one thread and a fixed-seed shuffle; the weights are accumulated in double and
// rounded to float once at the end.
#include "funnel/ranking/logistic_regression.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "funnel/core/hash.h"

namespace funnel::ranking {
namespace {

// The saved format writes native bytes; little-endian is what every machine Funnel runs on is.
static_assert(std::endian::native == std::endian::little, "the model format is little-endian");

constexpr char kMagic[4] = {'F', 'N', 'L', 'R'};
constexpr uint32_t kVersion = 1;
// Different seeds keep a category's bucket and a cross's bucket from being correlated.
constexpr uint64_t kCategorySeed = 0x6c722d636174ULL;  // "lr-cat"
constexpr uint64_t kCrossSeed = 0x6c722d63726f7373ULL;  // "lr-cross"

double Sigmoid(double m) {
  // Two forms so exp never overflows for large |m|.
  if (m >= 0) return 1.0 / (1.0 + std::exp(-m));
  double e = std::exp(m);
  return e / (1.0 + e);
}

// The bytes a categorical value is hashed by: NaN (missing) is one fixed pattern, -0 is 0, any
// other value its float bits. Hashing the bits rather than an int64 conversion means every
// integer a float can hold is a valid code, with no overflow at the edges.
uint32_t CodeBits(float v) {
  if (std::isnan(v)) return 0x7fc00000u;  // one canonical NaN
  if (v == 0) v = 0;                      // -0 and 0 are one code
  return std::bit_cast<uint32_t>(v);
}

uint32_t Bucket(uint64_t h, int bits) { return static_cast<uint32_t>(h >> (64 - bits)); }

uint32_t CategoryBucket(uint32_t col, float v, int bits) {
  char key[8];
  uint32_t code = CodeBits(v);
  std::memcpy(key, &col, 4);
  std::memcpy(key + 4, &code, 4);
  return Bucket(StableHash64({key, sizeof key}, kCategorySeed), bits);
}

uint32_t CrossBucket(uint32_t a, float va, uint32_t b, float vb, int bits) {
  char key[16];
  uint32_t ca = CodeBits(va), cb = CodeBits(vb);
  std::memcpy(key, &a, 4);
  std::memcpy(key + 4, &ca, 4);
  std::memcpy(key + 8, &b, 4);
  std::memcpy(key + 12, &cb, 4);
  return Bucket(StableHash64({key, sizeof key}, kCrossSeed), bits);
}

Status CheckShape(DenseMatrixView m, size_t want_cols, std::string_view what) {
  if (m.cols != want_cols)
    return absl::InvalidArgumentError(
        Cat(what, ": ", m.cols, " columns, the model has ", want_cols));
  if (m.values.size() != m.rows * m.cols)
    return absl::InvalidArgumentError(Cat(what, ": ", m.values.size(), " values for ", m.rows,
                                          " rows x ", m.cols, " columns"));
  return absl::OkStatus();
}

// Every value must have a meaning under its column's treatment (see the header).
Status CheckValues(DenseMatrixView m, std::span<const ColumnKind> kinds, std::string_view what) {
  for (size_t r = 0; r < m.rows; ++r) {
    const float* row = m.values.data() + r * m.cols;
    for (size_t c = 0; c < m.cols; ++c) {
      float v = row[c];
      if (std::isnan(v)) continue;
      if (std::isinf(v))
        return absl::InvalidArgumentError(
            Cat(what, ": row ", r, ", column ", c, " is ", v, "; use NaN for a missing value"));
      if (kinds[c] == ColumnKind::kCategorical && std::trunc(v) != v)
        return absl::InvalidArgumentError(Cat(what, ": row ", r, ", column ", c,
                                              " is categorical but holds ", v,
                                              ", not an integer code"));
    }
  }
  return absl::OkStatus();
}

void Append(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
template <typename T>
void Put(std::string& out, T v) { Append(out, &v, sizeof v); }

// Reads the saved format with bounds checks: a truncated buffer is an error, never a read past.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  bool Get(T& v) {
    if (b_.size() - pos_ < sizeof v) return false;
    std::memcpy(&v, b_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return true;
  }
  template <typename T>
  bool GetVector(std::vector<T>& v, size_t n) {
    if ((b_.size() - pos_) / sizeof(T) < n) return false;
    v.resize(n);
    std::memcpy(v.data(), b_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<LogisticRegression> LogisticRegression::Train(const LogisticRegressionData& data,
                                                       const LogisticRegressionOptions& opt) {
  const DenseMatrixView& x = data.features;
  const size_t n = x.rows, cols = x.cols;
  if (data.kinds.size() != cols)
    return absl::InvalidArgumentError(
        Cat("logistic regression: ", data.kinds.size(), " column kinds for ", cols, " columns"));
  FUNNEL_RETURN_IF_ERROR(CheckShape(x, cols, "logistic regression training rows"));
  if (n == 0) return absl::InvalidArgumentError("logistic regression: no training rows");
  if (data.labels.size() != n)
    return absl::InvalidArgumentError(
        Cat("logistic regression: ", data.labels.size(), " labels for ", n, " rows"));
  if (!data.weights.empty() && data.weights.size() != n)
    return absl::InvalidArgumentError(
        Cat("logistic regression: ", data.weights.size(), " weights for ", n, " rows"));
  if (!(opt.l2 >= 0) || !std::isfinite(opt.l2))
    return absl::InvalidArgumentError(Cat("logistic regression: l2 must be >= 0, is ", opt.l2));
  if (opt.epochs < 1)
    return absl::InvalidArgumentError(Cat("logistic regression: epochs must be >= 1, is ", opt.epochs));
  if (!(opt.learning_rate > 0) || !std::isfinite(opt.learning_rate))
    return absl::InvalidArgumentError(
        Cat("logistic regression: learning_rate must be > 0, is ", opt.learning_rate));
  if (opt.hash_bits < 1 || opt.hash_bits > 24)
    return absl::InvalidArgumentError(
        Cat("logistic regression: hash_bits must be in 1..24, is ", opt.hash_bits));
  for (size_t c = 0; c < cols; ++c)
    if (data.kinds[c] != ColumnKind::kNumeric && data.kinds[c] != ColumnKind::kCategorical)
      return absl::InvalidArgumentError(Cat("logistic regression: column ", c, " has an unknown kind"));
  for (auto [a, b] : opt.crosses) {
    if (a >= cols || b >= cols || a == b)
      return absl::InvalidArgumentError(Cat("logistic regression: cross (", a, ", ", b,
                                            ") needs two different columns below ", cols));
    if (data.kinds[a] != ColumnKind::kCategorical || data.kinds[b] != ColumnKind::kCategorical)
      return absl::InvalidArgumentError(Cat("logistic regression: cross (", a, ", ", b,
                                            ") must join two categorical columns"));
  }
  for (size_t r = 0; r < n; ++r) {
    float y = data.labels[r];
    if (!(y >= 0 && y <= 1))
      return absl::InvalidArgumentError(
          Cat("logistic regression: label of row ", r, " is ", y, ", must be in [0, 1]"));
  }
  double weight_sum = 0;
  for (size_t r = 0; r < data.weights.size(); ++r) {
    float w = data.weights[r];
    if (!(w >= 0) || !std::isfinite(w))
      return absl::InvalidArgumentError(
          Cat("logistic regression: weight of row ", r, " is ", w, ", must be finite and >= 0"));
    weight_sum += w;
  }
  if (!data.weights.empty() && weight_sum <= 0)
    return absl::InvalidArgumentError("logistic regression: every row weight is 0");
  FUNNEL_RETURN_IF_ERROR(CheckValues(x, data.kinds, "logistic regression training rows"));

  LogisticRegression m;
  m.kinds_.assign(data.kinds.begin(), data.kinds.end());
  m.crosses_ = opt.crosses;
  m.hash_bits_ = opt.hash_bits;
  m.mean_.assign(cols, 0.0);
  m.std_.assign(cols, 1.0);
  m.weight_.assign(cols, 0.0f);
  m.missing_weight_.assign(cols, 0.0f);

  // Standardization, from the non-missing values weighted like their rows, so a row of weight 0
  // is absent in every respect (two passes: a mean first, then squared
  // deviations from it, which stays accurate where sum-of-squares minus square-of-sum does not).
  std::vector<size_t> numeric, categorical;
  for (size_t c = 0; c < cols; ++c)
    (data.kinds[c] == ColumnKind::kNumeric ? numeric : categorical).push_back(c);
  auto row_weight = [&](size_t r) { return data.weights.empty() ? 1.0 : double{data.weights[r]}; };
  for (size_t c : numeric) {
    double sum = 0, count = 0;
    for (size_t r = 0; r < n; ++r)
      if (float v = x.values[r * cols + c]; !std::isnan(v)) sum += row_weight(r) * v, count += row_weight(r);
    if (count == 0) continue;
    double mean = sum / count, ss = 0;
    for (size_t r = 0; r < n; ++r)
      if (float v = x.values[r * cols + c]; !std::isnan(v)) ss += row_weight(r) * (v - mean) * (v - mean);
    double sd = std::sqrt(ss / count);
    m.mean_[c] = mean;
    m.std_[c] = sd > 1e-12 * (1 + std::abs(mean)) ? sd : 1.0;
  }

  // Each row's features once, reused by every epoch: standardized numerics (NaN = missing) and
  // the buckets of its categories and crosses.
  const size_t nn = numeric.size(), nb = categorical.size() + opt.crosses.size();
  std::vector<double> z(n * nn);
  std::vector<uint32_t> active(n * nb);
  for (size_t r = 0; r < n; ++r) {
    const float* row = x.values.data() + r * cols;
    for (size_t k = 0; k < nn; ++k) {
      size_t c = numeric[k];
      z[r * nn + k] = std::isnan(row[c]) ? std::nan("") : (row[c] - m.mean_[c]) / m.std_[c];
    }
    uint32_t* a = active.data() + r * nb;
    for (size_t c : categorical) *a++ = CategoryBucket(static_cast<uint32_t>(c), row[c], opt.hash_bits);
    for (auto [ca, cb] : opt.crosses) *a++ = CrossBucket(ca, row[ca], cb, row[cb], opt.hash_bits);
  }

  // Parameters and Adagrad's sums of squared gradients, in double during training.
  const size_t num_buckets = size_t{1} << opt.hash_bits;
  double bias = 0, g_bias = 0;
  std::vector<double> w(nn, 0.0), g_w(nn, 0.0), mw(nn, 0.0), g_mw(nn, 0.0);
  std::vector<double> wb(num_buckets, 0.0), g_wb(num_buckets, 0.0);
  const double lr = opt.learning_rate, l2 = opt.l2;
  // Row weights scaled to mean 1, so the learning rate means the same whatever their units.
  const double weight_scale = data.weights.empty() ? 1.0 : n / weight_sum;
  auto step = [lr](double& param, double& g2, double grad) {
    g2 += grad * grad;
    if (g2 > 0) param -= lr * grad / std::sqrt(g2);
  };

  std::vector<uint32_t> order(n);
  for (size_t r = 0; r < n; ++r) order[r] = static_cast<uint32_t>(r);
  std::mt19937_64 rng(opt.seed);
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    // Fisher-Yates with the engine's raw output (specified by the standard, unlike
    // std::shuffle's or the distributions' algorithms), so the order is the same everywhere.
    for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    for (uint32_t r : order) {
      const double rw = data.weights.empty() ? 1.0 : data.weights[r] * weight_scale;
      if (rw == 0) continue;
      const double* zr = z.data() + size_t{r} * nn;
      const uint32_t* ar = active.data() + size_t{r} * nb;
      double margin = bias;
      for (size_t k = 0; k < nn; ++k) margin += std::isnan(zr[k]) ? mw[k] : w[k] * zr[k];
      for (size_t k = 0; k < nb; ++k) margin += wb[ar[k]];
      const double g = rw * (Sigmoid(margin) - data.labels[r]);
      step(bias, g_bias, g);
      for (size_t k = 0; k < nn; ++k) {
        if (std::isnan(zr[k]))
          step(mw[k], g_mw[k], g + rw * l2 * mw[k]);
        else
          step(w[k], g_w[k], g * zr[k] + rw * l2 * w[k]);
      }
      for (size_t k = 0; k < nb; ++k) step(wb[ar[k]], g_wb[ar[k]], g + rw * l2 * wb[ar[k]]);
    }
  }

  m.bias_ = static_cast<float>(bias);
  for (size_t k = 0; k < nn; ++k) {
    m.weight_[numeric[k]] = static_cast<float>(w[k]);
    m.missing_weight_[numeric[k]] = static_cast<float>(mw[k]);
  }
  m.buckets_.resize(num_buckets);
  for (size_t i = 0; i < num_buckets; ++i) m.buckets_[i] = static_cast<float>(wb[i]);
  return m;
}

Status LogisticRegression::Margins(DenseMatrixView rows, std::span<float> out) const {
  const size_t cols = num_features();
  FUNNEL_RETURN_IF_ERROR(CheckShape(rows, cols, "logistic regression rows"));
  if (out.size() != rows.rows)
    return absl::InvalidArgumentError(
        Cat("logistic regression: output has ", out.size(), " slots for ", rows.rows, " rows"));
  FUNNEL_RETURN_IF_ERROR(CheckValues(rows, kinds_, "logistic regression rows"));
  for (size_t r = 0; r < rows.rows; ++r) {
    const float* row = rows.values.data() + r * cols;
    double margin = bias_;
    for (size_t c = 0; c < cols; ++c) {
      float v = row[c];
      if (kinds_[c] == ColumnKind::kCategorical)
        margin += buckets_[CategoryBucket(static_cast<uint32_t>(c), v, hash_bits_)];
      else if (std::isnan(v))
        margin += missing_weight_[c];
      else
        margin += weight_[c] * ((v - mean_[c]) / std_[c]);
    }
    for (auto [a, b] : crosses_) margin += buckets_[CrossBucket(a, row[a], b, row[b], hash_bits_)];
    out[r] = static_cast<float>(margin);
  }
  return absl::OkStatus();
}

Status LogisticRegression::Predict(DenseMatrixView rows, std::span<float> out) const {
  FUNNEL_RETURN_IF_ERROR(Margins(rows, out));
  for (float& v : out) v = static_cast<float>(Sigmoid(v));
  return absl::OkStatus();
}

StatusOr<std::vector<float>> LogisticRegression::Predict(DenseMatrixView rows) const {
  std::vector<float> out(rows.rows);
  FUNNEL_RETURN_IF_ERROR(Predict(rows, out));
  return out;
}

float LogisticRegression::CategoryWeight(uint32_t col, float code) const {
  return buckets_[CategoryBucket(col, code, hash_bits_)];
}

float LogisticRegression::CrossWeight(uint32_t a, float code_a, uint32_t b, float code_b) const {
  return buckets_[CrossBucket(a, code_a, b, code_b, hash_bits_)];
}

std::string LogisticRegression::Save() const {
  std::string out;
  Append(out, kMagic, sizeof kMagic);
  Put(out, kVersion);
  Put(out, static_cast<uint32_t>(kinds_.size()));
  Put(out, static_cast<uint32_t>(hash_bits_));
  Put(out, static_cast<uint32_t>(crosses_.size()));
  for (ColumnKind k : kinds_) Put(out, static_cast<uint8_t>(k));
  for (auto [a, b] : crosses_) Put(out, a), Put(out, b);
  Append(out, mean_.data(), mean_.size() * sizeof(double));
  Append(out, std_.data(), std_.size() * sizeof(double));
  Append(out, weight_.data(), weight_.size() * sizeof(float));
  Append(out, missing_weight_.data(), missing_weight_.size() * sizeof(float));
  Put(out, bias_);
  uint32_t nnz = 0;
  for (float v : buckets_) nnz += v != 0;
  Put(out, nnz);
  for (size_t i = 0; i < buckets_.size(); ++i)
    if (buckets_[i] != 0) Put(out, static_cast<uint32_t>(i)), Put(out, buckets_[i]);
  Put(out, StableHash64(out));
  return out;
}

StatusOr<LogisticRegression> LogisticRegression::Load(std::string_view bytes) {
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(Cat("logistic regression model: ", why));
  };
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return bad("not a logistic regression model (wrong magic)");
  if (bytes.size() < sizeof kMagic + sizeof(uint64_t)) return bad("truncated");
  const std::string_view body = bytes.substr(0, bytes.size() - sizeof(uint64_t));
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + body.size(), sizeof checksum);
  Reader in(body.substr(sizeof kMagic));
  uint32_t version = 0, cols = 0, bits = 0, num_crosses = 0;
  if (!in.Get(version)) return bad("truncated");
  if (version != kVersion) return bad(Cat("version ", version, " is unknown; this build reads ", kVersion));
  if (checksum != StableHash64(body)) return bad("checksum mismatch (corrupt or truncated)");
  if (!in.Get(cols) || !in.Get(bits) || !in.Get(num_crosses)) return bad("truncated");
  if (bits < 1 || bits > 24) return bad(Cat("hash_bits ", bits, " out of range"));

  LogisticRegression m;
  m.hash_bits_ = static_cast<int>(bits);
  std::vector<uint8_t> kinds;
  if (!in.GetVector(kinds, cols)) return bad("truncated");
  for (uint8_t k : kinds) {
    if (k > 1) return bad(Cat("unknown column kind ", k));
    m.kinds_.push_back(static_cast<ColumnKind>(k));
  }
  for (uint32_t i = 0; i < num_crosses; ++i) {
    uint32_t a, b;
    if (!in.Get(a) || !in.Get(b)) return bad("truncated");
    if (a >= cols || b >= cols) return bad(Cat("cross (", a, ", ", b, ") out of range"));
    m.crosses_.emplace_back(a, b);
  }
  if (!in.GetVector(m.mean_, cols) || !in.GetVector(m.std_, cols) ||
      !in.GetVector(m.weight_, cols) || !in.GetVector(m.missing_weight_, cols) || !in.Get(m.bias_))
    return bad("truncated");
  uint32_t nnz = 0;
  if (!in.Get(nnz)) return bad("truncated");
  m.buckets_.assign(size_t{1} << bits, 0.0f);
  for (uint32_t i = 0; i < nnz; ++i) {
    uint32_t bucket;
    float v;
    if (!in.Get(bucket) || !in.Get(v)) return bad("truncated");
    if (bucket >= m.buckets_.size()) return bad(Cat("bucket ", bucket, " out of range"));
    m.buckets_[bucket] = v;
  }
  if (in.pos() + sizeof kMagic != body.size()) return bad("trailing bytes");
  return m;
}

}  // namespace funnel::ranking
