// The [retrieval] and [ranking] tables of the config file: RetrievalTrainOptions read, validated and written by
// one declaration of its keys (core/toml_table.h), so `funnel tune` writes back every key
// `funnel train` reads. funnel.toml at the repository root documents each key and its default.
//
//   FUNNEL_ASSIGN_OR_RETURN(RetrievalTrainOptions o, RetrievalTrainOptionsFromConfig(cfg));
//   std::string table = RetrievalOptionsToml(o);   // "[retrieval]\n..." for a config file
//
// Thread-safety: every function here is reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/training/retrieval_trainer.h"

namespace funnel::training {

// The options `cfg`'s text sets (defaults without a text or a [retrieval] table). Unknown keys,
// wrong types and impossible values are errors naming the file, line, key and value.
StatusOr<RetrievalTrainOptions> RetrievalTrainOptionsFromConfig(const Config& cfg);
// Reads the [retrieval] table of a TOML text; other top-level keys are not looked at.
StatusOr<RetrievalTrainOptions> ParseRetrievalOptions(std::string_view toml_text, std::string_view source_name);

// The [retrieval] table (with its sub-tables) that reads back to `o`, every key written.
std::string RetrievalOptionsToml(const RetrievalTrainOptions& o);

// Every key ParseRetrievalOptions reads, dotted ("retrieval.covisit.max_gap"), sorted: for tests
// that hold RetrievalOptionsToml to writing each one.
std::vector<std::string> RetrievalOptionKeys();

}  // namespace funnel::training
