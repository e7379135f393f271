// The `funnel` subcommands. Each lives in <name>_command.cc, adds itself to the CLI11 app and
// stays thin: parse arguments, call the stage libraries, print. Exit codes: 0 ok, 1 failure,
// 2 finished but some input records were rejected. An import that accepted nothing (an empty
// input, or every record rejected) is a failure, 1; one of duplicates only is 0.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "funnel/core/config.h"
#include "funnel/core/status.h"
#include "funnel/retrieval/source_registry.h"

namespace funnel::cli {

// Options every subcommand takes (docs/cli.md: `--data DIR`, `--config FILE`).
struct CommonOptions {
  std::string data_dir = "./funnel-data";
  std::string config_path;  // empty: built-in defaults (the values documented in funnel.toml)
  // The retrieval sources model bundles may name, filled by main before any command runs.
  std::shared_ptr<const retrieval::SourceRegistry> sources;

  // Loads the config file (or defaults), validates every table in it ([retrieval] and
  // [[features]] included) and applies its log level.
  StatusOr<Config> LoadConfig() const;
};

// Adds --data and --config to a subcommand.
void AddCommonFlags(CLI::App* sub, CommonOptions& common);

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitRejected = 2;

// Each Add*Command registers a subcommand whose callback stores its exit code in *exit_code.
void AddGenerateCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddImportCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddIngestCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddStatsCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddFeaturesCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddTrainCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddRecommendCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddRankCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddTuneCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddEvalCommand(CLI::App& app, CommonOptions& common, int* exit_code);
void AddDemoCommand(CLI::App& app, CommonOptions& common, int* exit_code);

// Prints a failed status as "funnel: <message>" on stderr and returns kExitFailure.
int Fail(const Status& status);

}  // namespace funnel::cli
