// Writes dataset rows as text (docs/formats/dataset.md), optionally on a second thread.
//
// The dataset builder's fold thread hands finished rows over in order; the writer copies them
// into fixed-size blocks. Without a background thread a full block is formatted and written at
// once on the caller's thread (the simple twin). With one, full blocks go through a bounded
// queue to a thread that formats, hashes and writes them while the fold goes on; the number of
// blocks is fixed, so memory stays flat and a slow disk slows the fold instead of filling RAM.
// Both paths run the same formatting code on the same rows in the same order, so the files are
// equal byte for byte (tested).
//
//   FUNNEL_ASSIGN_OR_RETURN(auto w, DatasetWriter::Open("rows.tsv", names, store, /*background=*/true));
//   w->Append(head, features);   // for each row, in file order
//   FUNNEL_RETURN_IF_ERROR(w->Finish());
//
// Thread-safety: Append and Finish must be called from one thread at a time; the background
// thread, when there is one, only touches blocks the caller has handed over.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/store/event_store.h"

namespace funnel::features {

inline constexpr const char* kDatasetLabelNames[] = {"label",   "engaged",       "liked", "shared",
                                                     "skipped", "watch_seconds", "rating"};
inline constexpr size_t kDatasetLabels = std::size(kDatasetLabelNames);

enum class RowKind : uint8_t { kImpression, kEngagement, kNegative };

// Everything of a row but its feature vector.
struct RowHead {
  uint64_t seq = 0;
  int64_t ts_us = 0;
  UserIdx user{};
  ItemIdx item{};
  RowKind kind = RowKind::kImpression;
  std::array<float, kDatasetLabels> labels{};
};

class DatasetWriter {
 public:
  // Writes the header to `path`.tmp; `store` names users and items and must outlive the writer.
  static StatusOr<std::unique_ptr<DatasetWriter>> Open(const std::string& path,
                                                       const std::vector<std::string>& feature_names,
                                                       const store::EventStore& store, bool background);
  ~DatasetWriter();  // without Finish: stops the thread and removes the temporary file

  // Queues one row; `x` holds feature_names.size() values.
  void Append(const RowHead& head, const float* x);
  // Writes what is queued and the #end line, then renames the file into place.
  Status Finish();

  uint64_t rows() const { return rows_; }

 private:
  struct Block {
    std::vector<RowHead> heads;
    std::vector<float> x;  // heads.size() * features_, row-major
  };
  static constexpr size_t kBlockRows = 4096;
  static constexpr size_t kBlocks = 4;  // one filling, the others queued or being written

  DatasetWriter(const store::EventStore& store, size_t features);
  void Hand(std::unique_ptr<Block> block);  // a full (or the last) block, in order
  void Write(const Block& block);           // formats, hashes and writes one block
  void Run();                               // the background thread's loop
  const std::string& UserName(UserIdx u);
  const std::string& ItemName(ItemIdx i);

  const store::EventStore& store_;
  const size_t features_;
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t rows_ = 0;
  std::unique_ptr<Block> filling_;

  // Used only by whichever thread writes blocks.
  std::string text_;
  std::vector<std::string> user_names_, item_names_;  // caches: the store builds a new string per call
  std::vector<uint8_t> user_named_, item_named_;
  struct Hash;
  std::unique_ptr<Hash> hash_;

  // Guarded by mu_ (background mode).
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Block>> full_, free_;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace funnel::features
