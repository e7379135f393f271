// The README's "Bring your own data" walkthrough, run as written: the test reads README.md from
// the source tree, takes the walkthrough section (from its "## Bring your own data" heading to
// the next "## " heading), and in document order
//  - writes every fenced block whose info string names a file (```json file=events.jsonl) into
//    a fresh directory, byte for byte;
//  - runs every command of every ```sh block there (the directory is the working directory, so
//    the default --data ./funnel-data is inside it), through bash with `funnel` bound to the
//    built binary, and asserts its exit status: 0, or N when the line's comment says
//    "exit status N".
// After each command it checks what the walkthrough promises: `import` prints its summary,
// `train` leaves models/CURRENT naming a version directory, `recommend` prints (or writes to
// --out) TSV rows `user item rank score`, `eval` prints its NDCG@10 table and writes --json.
// The data set is the README's own (hand-written, ~100 events): no ../shared data, a few seconds.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/funnel_process.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace funnel {
namespace {

using testing::Describe;
using testing::ProcessResult;
using testing::ReadFile;

constexpr const char* kSection = "## Bring your own data";

// One step of the walkthrough, in document order.
struct Step {
  std::string file;     // a data file to write (content in `text`), or empty
  std::string command;  // a command line to run, or empty
  std::string text;
  int expected_exit = 0;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The walkthrough section of the README, or empty when it is missing.
std::string Section(const std::string& readme) {
  size_t start = readme.find(std::string("\n") + kSection + "\n");
  if (start == std::string::npos) return "";
  size_t end = readme.find("\n## ", start + 1);
  return readme.substr(start + 1, end == std::string::npos ? std::string::npos : end - start);
}

// The files and commands of a markdown section, in order. Commands: every non-blank line of a
// ```sh block that is not a comment; a trailing backslash continues a command on the next line.
std::vector<Step> ParseSteps(const std::string& section) {
  std::vector<Step> steps;
  const std::vector<std::string> lines = Lines(section);
  const std::regex file_re(R"(\bfile=(\S+))");
  const std::regex exit_re(R"(#.*\bexit status (\d+))");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& open = lines[i];
    if (!open.starts_with("```") || open.size() == 3) continue;
    const std::string info = open.substr(3);
    std::vector<std::string> body;
    for (++i; i < lines.size() && !lines[i].starts_with("```"); ++i) body.push_back(lines[i]);
    std::smatch m;
    if (std::regex_search(info, m, file_re)) {
      Step s;
      s.file = m[1];
      for (const std::string& l : body) s.text += l + "\n";
      steps.push_back(std::move(s));
    } else if (info == "sh") {
      std::string pending;
      for (const std::string& l : body) {
        if (l.ends_with("\\")) {
          pending += l.substr(0, l.size() - 1) + " ";
          continue;
        }
        std::string line = pending + l;
        pending.clear();
        const size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        Step s;
        s.command = line.substr(first);
        if (std::regex_search(s.command, m, exit_re)) s.expected_exit = std::stoi(m[1]);
        steps.push_back(std::move(s));
      }
    }
  }
  return steps;
}

// The value of `--name VALUE` in a command line, or `fallback`.
std::string OptionValue(const std::string& command, const std::string& name, const std::string& fallback = "") {
  std::smatch m;
  if (std::regex_search(command, m, std::regex("(^|\\s)" + name + "[ =](\\S+)"))) return m[2];
  return fallback;
}

// Runs one command line as a shell would, in `dir`, with `funnel` the built binary.
ProcessResult RunInDir(const std::string& dir, const std::string& command) {
  const std::string script = "set -o pipefail\nfunnel() { '" + std::string(FUNNEL_BINARY) + "' \"$@\"; }\ncd '" + dir +
                             "' || exit 99\n" + command + "\n";
  return testing::RunProcess({"/bin/bash", "-c", script});
}

// Every non-empty line is `user TAB item TAB rank TAB score` with rank counting from 1 per user.
void ExpectRecommendTsv(const std::string& tsv, const std::string& what) {
  const std::regex row(R"(([^\t]+)\t([^\t]+)\t([0-9]+)\t(-?[0-9.]+(e[-+]?[0-9]+)?))");
  size_t rows = 0;
  std::map<std::string, int> last_rank;
  for (const std::string& line : Lines(tsv)) {
    if (line.empty()) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, row)) << what << ": not a `user item rank score` row: " << line;
    const int rank = std::stoi(m[3]);
    EXPECT_EQ(rank, last_rank[m[1]] + 1) << what << ": ranks count from 1 per user: " << line;
    last_rank[m[1]] = rank;
    ++rows;
  }
  EXPECT_GT(rows, 0u) << what << ": no recommendations";
}

void CheckOutputs(const std::string& dir, const Step& step, const ProcessResult& r) {
  const std::string& cmd = step.command;
  if (!cmd.starts_with("funnel ")) return;
  const std::string data = dir + "/" + OptionValue(cmd, "--data", "funnel-data");
  if (cmd.starts_with("funnel import ")) {
    EXPECT_NE(r.out.find(" accepted, "), std::string::npos) << cmd << "\n" << Describe(r);
  } else if (cmd.starts_with("funnel train")) {
    const std::string current = data + "/models/CURRENT";
    ASSERT_TRUE(std::filesystem::is_regular_file(current)) << cmd << ": no " << current << "\n" << Describe(r);
    std::string version = ReadFile(current);
    while (!version.empty() && version.back() == '\n') version.pop_back();
    EXPECT_TRUE(std::filesystem::is_directory(data + "/models/" + version))
        << "CURRENT names '" << version << "', which is not a directory under models/";
  } else if (cmd.starts_with("funnel recommend")) {
    const std::string out = OptionValue(cmd, "--out");
    if (out.empty() || out == "-") {
      std::string tsv = r.out;
      if (cmd.find(" --header") != std::string::npos) {
        ASSERT_TRUE(tsv.starts_with("user\titem\trank\tscore\n")) << cmd << ": no header line\n" << Describe(r);
        tsv.erase(0, tsv.find('\n') + 1);
      }
      ExpectRecommendTsv(tsv, cmd);
    } else {
      ASSERT_TRUE(std::filesystem::is_regular_file(dir + "/" + out)) << cmd << ": wrote no " << out;
      ExpectRecommendTsv(ReadFile(dir + "/" + out), cmd);
    }
  } else if (cmd.starts_with("funnel eval")) {
    EXPECT_NE(r.out.find("NDCG@10"), std::string::npos) << cmd << "\n" << Describe(r);
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\nfinal +[0-9.]+ ±)"))) << cmd << ": no final row\n" << r.out;
    const std::string json = OptionValue(cmd, "--json");
    if (!json.empty() && json != "-") {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      ASSERT_FALSE(parser.load(dir + "/" + json).get(doc)) << cmd << ": " << json << " is not JSON";
      simdjson::dom::object overall;
      EXPECT_FALSE(doc["overall"].get(overall)) << json << " has no \"overall\" object";
    }
  }
}

TEST(WalkthroughTest, ReadmeBringYourOwnDataRunsAsWritten) {
  const std::string readme_path = std::string(FUNNEL_SOURCE_DIR) + "/README.md";
  const std::string readme = ReadFile(readme_path);
  ASSERT_FALSE(readme.empty()) << "cannot read " << readme_path;
  const std::string section = Section(readme);
  ASSERT_FALSE(section.empty()) << readme_path << " has no \"" << kSection << "\" section";
  const std::vector<Step> steps = ParseSteps(section);

  // The walkthrough must keep its promise: the three formats, import, train, recommend, eval.
  std::vector<std::string> files, commands;
  for (const Step& s : steps) (s.file.empty() ? commands : files).push_back(s.file.empty() ? s.command : s.file);
  for (const char* f : {"events.jsonl", "items.jsonl", "users.jsonl"})
    EXPECT_NE(std::find(files.begin(), files.end(), f), files.end()) << "the walkthrough has no file=" << f << " block";
  for (const char* c : {"funnel import events", "funnel import items", "funnel import users", "funnel train",
                        "funnel recommend", "funnel eval"})
    EXPECT_TRUE(std::any_of(commands.begin(), commands.end(), [&](const std::string& x) { return x.starts_with(c); }))
        << "the walkthrough runs no `" << c << "`";

  testing::TempDir dir;
  std::string outputs;  // every command's stdout and stderr, for the shown outputs below
  for (const Step& step : steps) {
    if (!step.file.empty()) {
      ASSERT_EQ(step.file.find(".."), std::string::npos) << "file names stay inside the walkthrough's directory";
      dir.Write(step.file, step.text);
      continue;
    }
    SCOPED_TRACE(step.command);
    ProcessResult r = RunInDir(dir.path(), step.command);
    ASSERT_EQ(r.exit_code, step.expected_exit) << "README.md: `" << step.command << "`\n" << Describe(r);
    CheckOutputs(dir.path(), step, r);
    if (::testing::Test::HasFatalFailure()) return;
    outputs += r.out + "\n" + r.err + "\n";
  }
  // The messages the walkthrough shows in its ```text blocks (the lines Funnel words itself:
  // stderr reports, the tuning and ranking notes, rejections) were printed by its commands, word for word.
  const std::regex text_block("```text\n([^`]*)```");
  size_t shown = 0;
  for (std::sregex_iterator it(section.begin(), section.end(), text_block), end; it != end; ++it)
    for (const std::string& line : Lines((*it)[1].str()))
      if (line.starts_with("funnel: ") || line.starts_with("tuning skipped: ") || line.starts_with("ranking: ") ||
          line.starts_with("  rejected ")) {
        ++shown;
        EXPECT_NE(outputs.find(line + "\n"), std::string::npos) << "README.md shows a line no command printed:\n" << line;
      }
  EXPECT_GE(shown, 3u) << "the walkthrough shows the rejection, the tuning note and the stderr reports";
}

}  // namespace
}  // namespace funnel
