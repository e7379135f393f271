// The [retrieval] section of the config file, read into the trainer's options.
//
// Thread-safety: reentrant.
#pragma once

#include "funnel/core/config.h"
#include "funnel/training/retrieval_trainer.h"

namespace funnel::training {

// Unknown keys and wrong types are errors naming the file, line and key.
StatusOr<RetrievalTrainOptions> RetrievalTrainOptionsFromConfig(const Config& cfg);

}  // namespace funnel::training
