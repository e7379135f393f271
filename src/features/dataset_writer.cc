#include "features/dataset_writer.h"

#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t by value
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <system_error>

#include "features/shortest_float.h"

namespace funnel::features {

namespace {

constexpr std::string_view kKindNames[] = {"impression", "engagement", "negative"};

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

struct DatasetWriter::Hash {
  XXH3_state_t state;
};

DatasetWriter::DatasetWriter(const store::EventStore& store, size_t features)
    : store_(store), features_(features), hash_(std::make_unique<Hash>()) {}

StatusOr<std::unique_ptr<DatasetWriter>> DatasetWriter::Open(const std::string& path,
                                                             const std::vector<std::string>& feature_names,
                                                             const store::EventStore& store, bool background) {
  std::unique_ptr<DatasetWriter> w(new DatasetWriter(store, feature_names.size()));
  w->path_ = path;
  if (path == "-") {
    // Standard output (a pipe, say): written as it goes, nothing to rename; a duplicate so
    // Finish's fclose leaves stdout open.
    w->file_ = ::fdopen(::dup(STDOUT_FILENO), "w");
    if (w->file_ == nullptr) return absl::InvalidArgumentError("cannot write the dataset to stdout");
  } else {
    w->tmp_path_ = path + ".tmp";
    w->file_ = std::fopen(w->tmp_path_.c_str(), "we");
    if (w->file_ == nullptr) return absl::InvalidArgumentError(Cat("cannot write ", w->tmp_path_));
  }
  std::string header = "#funnel-dataset\t1\n#columns\tseq:u64\tts:f64\tuser:str\titem:str\tkind:str";
  for (const char* l : kDatasetLabelNames) header += Cat("\t", l, ":f32");
  for (const auto& n : feature_names) header += Cat("\t", n, ":f32");
  header += "\n";
  std::fputs(header.c_str(), w->file_);
  XXH3_64bits_reset(&w->hash_->state);
  w->user_names_.resize(store.NumUsers());
  w->user_named_.resize(store.NumUsers());
  w->item_names_.resize(store.NumItems());
  w->item_named_.resize(store.NumItems());
  const size_t blocks = background ? kBlocks : 1;
  for (size_t b = 0; b < blocks; ++b) {
    auto block = std::make_unique<Block>();
    block->heads.reserve(kBlockRows);
    block->x.reserve(kBlockRows * w->features_);
    w->free_.push_back(std::move(block));
  }
  w->filling_ = std::move(w->free_.front());
  w->free_.pop_front();
  if (background) {
    try {
      w->thread_ = std::thread([p = w.get()] { p->Run(); });
    } catch (const std::system_error&) {
      // No thread to be had: the caller's thread writes, as with background = false.
    }
  }
  return w;
}

DatasetWriter::~DatasetWriter() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      full_.clear();  // abandoned: nothing more is written
    }
    cv_.notify_all();
    thread_.join();
  }
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void DatasetWriter::Append(const RowHead& head, const float* x) {
  filling_->heads.push_back(head);
  filling_->x.insert(filling_->x.end(), x, x + features_);
  ++rows_;
  if (filling_->heads.size() == kBlockRows) Hand(std::move(filling_));
}

void DatasetWriter::Hand(std::unique_ptr<Block> block) {
  if (!thread_.joinable()) {
    Write(*block);
    block->heads.clear();
    block->x.clear();
    filling_ = std::move(block);
    return;
  }
  std::unique_lock lock(mu_);
  full_.push_back(std::move(block));
  cv_.notify_all();
  cv_.wait(lock, [&] { return !free_.empty(); });
  filling_ = std::move(free_.front());
  free_.pop_front();
}

void DatasetWriter::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return !full_.empty() || closing_; });
    if (full_.empty()) return;  // closing, and everything handed over is written
    std::unique_ptr<Block> block = std::move(full_.front());
    full_.pop_front();
    lock.unlock();
    Write(*block);
    block->heads.clear();
    block->x.clear();
    lock.lock();
    free_.push_back(std::move(block));
    cv_.notify_all();
  }
}

Status DatasetWriter::Finish() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      if (!filling_->heads.empty()) full_.push_back(std::move(filling_));
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
  } else if (!filling_->heads.empty()) {
    Write(*filling_);
  }
  std::string end = Cat("#end\trows=", rows_, "\txxh3=", XXH3_64bits_digest(&hash_->state), "\n");
  std::fputs(end.c_str(), file_);
  bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok || (!tmp_path_.empty() && std::rename(tmp_path_.c_str(), path_.c_str()) != 0))
    return absl::InternalError(Cat("cannot write ", path_));
  return absl::OkStatus();
}

const std::string& DatasetWriter::UserName(UserIdx u) {
  if (Raw(u) >= user_names_.size()) {
    user_names_.resize(Raw(u) + 1);
    user_named_.resize(Raw(u) + 1);
  }
  if (!user_named_[Raw(u)]) {
    user_names_[Raw(u)] = store_.UserName(u);
    user_named_[Raw(u)] = 1;
  }
  return user_names_[Raw(u)];
}

const std::string& DatasetWriter::ItemName(ItemIdx i) {
  if (Raw(i) >= item_names_.size()) {
    item_names_.resize(Raw(i) + 1);
    item_named_.resize(Raw(i) + 1);
  }
  if (!item_named_[Raw(i)]) {
    item_names_[Raw(i)] = store_.ItemName(i);
    item_named_[Raw(i)] = 1;
  }
  return item_names_[Raw(i)];
}

void DatasetWriter::Write(const Block& block) {
  // Formats into one buffer, so the hash and the file each take one call per block.
  const size_t fixed = 20 + 1 + 32 + 1 + 2 + 11 + 1 + (kDatasetLabels + features_) * (kMaxShortestFloatChars + 1);
  size_t used = 0;
  for (size_t r = 0; r < block.heads.size(); ++r) {
    const RowHead& h = block.heads[r];
    const std::string& user = UserName(h.user);
    const std::string& item = ItemName(h.item);
    const size_t need = fixed + user.size() + item.size();
    if (text_.size() < used + need) text_.resize(std::max(2 * text_.size(), used + need));
    char* const start = text_.data() + used;
    char* p = start;
    p = std::to_chars(p, p + 20, h.seq).ptr;
    *p++ = '\t';
    p = std::to_chars(p, p + 32, static_cast<double>(h.ts_us) / 1e6).ptr;
    *p++ = '\t';
    p = Put(p, user);
    *p++ = '\t';
    p = Put(p, item);
    *p++ = '\t';
    p = Put(p, kKindNames[static_cast<size_t>(h.kind)]);
    for (float l : h.labels) {
      *p++ = '\t';
      p = WriteShortestFloat(p, l);
    }
    const float* x = block.x.data() + r * features_;
    for (size_t f = 0; f < features_; ++f) {
      *p++ = '\t';
      p = WriteShortestFloat(p, x[f]);
    }
    *p++ = '\n';
    used += static_cast<size_t>(p - start);
  }
  XXH3_64bits_update(&hash_->state, text_.data(), used);
  std::fwrite(text_.data(), 1, used, file_);
}

}  // namespace funnel::features
