// The offline half of the feature fold: replays the event store and writes training rows whose
// features are taken the instant before each row's own event (point-in-time correct), with
// labels joined from what followed. The file format is in docs/formats/dataset.md.
//
// Rows: one per impression (labels from the feedback on it: same user, item and request_id,
// within `label_horizon_seconds`), one per engagement that answers no impression (ratings,
// organic likes), and `negatives_per_positive` sampled negatives per positive engagement row
// (items seen before the row's time, uniformly, deterministic for a seed).
//
//   DatasetOptions opt;  opt.until = cutoff;
//   FUNNEL_ASSIGN_OR_RETURN(DatasetSummary s, BuildDataset(store, specs, cfg.events, opt, "rows.tsv"));
// Thread-safety: BuildDataset is reentrant (it reads the store and writes its own file).
#pragma once

#include <string>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/features/feature_spec.h"
#include "funnel/store/event_store.h"

namespace funnel::features {

struct DatasetOptions {
  Timestamp until = Timestamp::Max();  // only events with ts < until are read
  int negatives_per_positive = 2;
  uint64_t seed = 1;
  double label_horizon_seconds = 1800;
  // 1: fold, features and text on the calling thread (the simple twin). 2 or more: the text is
  // formatted and written on a second thread while the fold goes on (more threads add nothing;
  // the fold is sequential). 0: 2 when the machine has two cores or more. The file is the same
  // byte for byte either way.
  int threads = 0;
};

struct DatasetSummary {
  uint64_t events = 0;
  uint64_t rows = 0;
  uint64_t impression_rows = 0;
  uint64_t engagement_rows = 0;
  uint64_t negative_rows = 0;
  size_t features = 0;
  double seconds = 0;
};

StatusOr<DatasetSummary> BuildDataset(const store::EventStore& store, std::vector<FeatureSpec> specs,
                                      const EventsConfig& events, const DatasetOptions& options,
                                      const std::string& out_path);

// One row read back from a dataset file (for tests, and for trainers that want it simple).
struct DatasetRow {
  uint64_t seq = 0;
  double ts = 0;
  std::string user, item, kind;
  std::vector<float> labels;    // label, engaged, liked, shared, skipped, watch_seconds, rating
  std::vector<float> features;  // in the header's order
};

// Reads a whole dataset file, verifying its header and checksum.
StatusOr<std::vector<DatasetRow>> ReadDataset(const std::string& path,
                                              std::vector<std::string>* feature_names);

}  // namespace funnel::features
