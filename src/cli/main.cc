// funnel: the one binary. Subcommands and the components config can name are registered
// explicitly here (no static initializers).
#include <memory>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Funnel: an end-to-end recommender system (events -> features -> retrieval -> "
               "ranking -> serving)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "funnel 0.1.0");

  funnel::cli::CommonOptions common;
  common.sources = std::make_shared<const funnel::retrieval::SourceRegistry>(funnel::retrieval::BuiltinSources());
  int exit_code = funnel::cli::kExitOk;
  funnel::cli::AddDemoCommand(app, common, &exit_code);
  funnel::cli::AddGenerateCommand(app, common, &exit_code);
  funnel::cli::AddImportCommand(app, common, &exit_code);
  funnel::cli::AddIngestCommand(app, common, &exit_code);
  funnel::cli::AddStatsCommand(app, common, &exit_code);
  funnel::cli::AddTrainCommand(app, common, &exit_code);
  funnel::cli::AddRecommendCommand(app, common, &exit_code);
  funnel::cli::AddRankCommand(app, common, &exit_code);
  funnel::cli::AddTuneCommand(app, common, &exit_code);
  funnel::cli::AddEvalCommand(app, common, &exit_code);
  funnel::cli::AddFeaturesCommand(app, common, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 1, as documented.
    int code = app.exit(e);
    return code == 0 ? 0 : funnel::cli::kExitFailure;
  }
  return exit_code;
}
