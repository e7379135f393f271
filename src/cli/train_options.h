// The [retrieval] section of the config file, read into the trainer's options.
#pragma once

#include "funnel/core/config.h"
#include "funnel/training/retrieval_trainer.h"

namespace funnel::cli {

// Unknown keys and wrong types are errors naming the file, line and key.
StatusOr<training::RetrievalTrainOptions> RetrievalTrainOptionsFromConfig(const Config& cfg);

}  // namespace funnel::cli
