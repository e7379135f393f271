// The merger: asks each source for its quota of candidates, takes their union (minus what the
// user must not see), has every source score every candidate, and fuses those scores into one
// list. Each candidate keeps which sources found it and every source's score: the ranking stage
// uses them as features; until then the final list is the fusion.
//
// Fusion: each source's opinion of the request's candidates becomes a reciprocal rank,
// 1 / (rank_offset + rank) (or, optionally, its raw score), standardized over the candidates
// (a source that scores every candidate alike contributes nothing), then summed with the
// source's weight. Ranks make sources with heavy-tailed scores (counts, dot products)
// comparable; on ml-100k reciprocal ranks beat z-scored raw scores by ~0.02 NDCG@10.
// Weights and the rank offset are tuned on validation carve-outs (training/), never on a test
// window.
//
//   Merger merger(sources, options);
//   CandidateSet c = merger.Candidates(user, now);
//   std::vector<Candidate> top = merger.Fuse(c, 20);
//
// Thread-safety: immutable after construction; Candidates/Fuse are safe concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "funnel/core/status.h"
#include "funnel/retrieval/source.h"

namespace funnel::retrieval {

struct SourceSlot {
  std::shared_ptr<const Source> source;
  size_t quota = 200;   // candidates it contributes (its top `quota`)
  double weight = 1.0;  // fusion weight
};

struct CandidateSet {
  std::vector<uint32_t> items;
  size_t sources = 0;
  std::vector<float> scores;     // items x sources, row-major: every source's score per candidate
  std::vector<uint32_t> found_by;  // per candidate, bit s set when source s retrieved it
  float Score(size_t candidate, size_t source) const { return scores[candidate * sources + source]; }
};

struct FusionOptions {
  enum Normalization { kRank = 0, kScore = 1 };
  Normalization normalization = kRank;
  double rank_offset = 50;
};

class Merger {
 public:
  Merger(std::vector<SourceSlot> slots, size_t max_candidates = 1000, FusionOptions fusion = {});
  const FusionOptions& fusion() const { return fusion_; }
  size_t max_candidates() const { return max_candidates_; }

  const std::vector<SourceSlot>& slots() const { return slots_; }
  std::vector<std::string> SourceNames() const;

  // Union of every source's quota (in source order, first come first kept, at most
  // max_candidates), with every source's score for every candidate.
  CandidateSet Candidates(const UserState& user, Timestamp now) const;

  // The k best candidates by fused score, best first. `weights` overrides the slots' weights
  // (the tuner tries many on one candidate set); empty means the slots' own.
  std::vector<Candidate> Fuse(const CandidateSet& c, size_t k, std::span<const double> weights = {}) const;

 private:
  std::vector<SourceSlot> slots_;
  size_t max_candidates_;
  FusionOptions fusion_;
};

// Standardizes each source column of a candidate set in place: mean 0, standard deviation 1
// over the candidates (a constant column becomes 0). Fusion is then a weighted sum.
void StandardizeColumns(CandidateSet* c);
// Reciprocal ranks within each column: 1 / (k0 + rank), rank from 0, ties share the best rank,
// NaN ranks last.
void RankColumns(CandidateSet* c, double k0);
// What Fuse does to each column before weighting: ranks (when asked), then standardization.
void NormalizeColumns(CandidateSet* c, const FusionOptions& options);

}  // namespace funnel::retrieval
