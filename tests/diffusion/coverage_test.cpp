// Every equation and verification of EQUATIONS.md is implemented and tested: each ID
// (E1, E3a, ..., V22) must appear in a comment of a source file of diffusion/ (the code
// cites the equation it implements) and in the name of a TEST_CASE under tests/ (a test
// checks it). The IDs are read from ../shared/EQUATIONS.md next to the repository when it
// is there; otherwise from the copy compiled in below (the test says which it used).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// The IDs of EQUATIONS.md when this test was written (used when ../shared is absent).
const std::vector<std::string> kCompiledIds = {
    "E1",  "E2",  "E3",  "E3a", "E3b", "E4",  "E5",  "E6",  "E7",  "E8",  "E9",  "E10", "E11",
    "E12", "E13", "E14", "E15", "E16", "E17", "E18", "E19", "E20", "E21", "E22", "E23", "E24",
    "E25", "E26", "E27", "E28", "E29", "E30", "E31", "E32", "E33", "E34", "E35", "E36", "E37",
    "E38", "E39", "E40", "E41", "V1",  "V2",  "V3",  "V4",  "V5",  "V6",  "V7",  "V8",  "V9",
    "V10", "V11", "V12", "V13", "V14", "V15", "V16", "V17", "V18", "V19", "V20", "V21", "V22"};

// tests/diffusion/coverage_test.cpp -> the repository root.
fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The IDs defined by EQUATIONS.md: the first cell of each table row, `| E7 | ...`.
std::vector<std::string> ids_of_equations(const std::string& text) {
  std::vector<std::string> ids;
  static const std::regex row(R"(^\|\s*([EV][0-9]+[a-z]?)\s*\|)");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) ids.push_back(m[1]);
  }
  return ids;
}

// True when `id` occurs in `text` as a whole token: "E3" matches "E3 " and "E3:" but not
// "E30" or "E3a".
bool mentions(const std::string& text, const std::string& id) {
  for (size_t pos = text.find(id); pos != std::string::npos; pos = text.find(id, pos + 1)) {
    const bool left_ok = pos == 0 || !std::isalnum(static_cast<unsigned char>(text[pos - 1]));
    const size_t end = pos + id.size();
    const bool right_ok = end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
    if (left_ok && right_ok) return true;
  }
  return false;
}

// The comments of a C++ source: `// ...` to the end of a line and `/* ... */` blocks
// (string literals are skipped so that "http://" does not start a comment).
std::string comments_of(const std::string& src) {
  std::string out;
  enum { Code, Line, Block, String, Char } state = Code;
  for (size_t i = 0; i < src.size(); ++i) {
    const char c = src[i], next = i + 1 < src.size() ? src[i + 1] : '\0';
    switch (state) {
      case Code:
        if (c == '/' && next == '/') state = Line, ++i;
        else if (c == '/' && next == '*') state = Block, ++i;
        else if (c == '"') state = String;
        else if (c == '\'') state = Char;
        break;
      case Line:
        if (c == '\n') state = Code, out += '\n';
        else out += c;
        break;
      case Block:
        if (c == '*' && next == '/') state = Code, ++i, out += '\n';
        else out += c;
        break;
      case String:
        if (c == '\\') ++i;
        else if (c == '"') state = Code;
        break;
      case Char:
        if (c == '\\') ++i;
        else if (c == '\'') state = Code;
        break;
    }
  }
  return out;
}

// The names of the TEST_CASEs of a test source.
std::string test_names_of(const std::string& src) {
  std::string out;
  static const std::regex test_case(R"(TEST_CASE\s*\(\s*\"((?:[^\"\\]|\\.)*)\")");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), test_case); it != std::sregex_iterator(); ++it) {
    out += (*it)[1].str() + '\n';
  }
  return out;
}

bool is_source(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh";
}

}  // namespace

TEST_CASE("coverage: every E and V ID of EQUATIONS.md is cited in diffusion/ and named by a test") {
  const fs::path root = repo_root();
  REQUIRE_MESSAGE(fs::is_directory(root / "diffusion"), "cannot find the repository from " << __FILE__);
  const fs::path equations = root.parent_path() / "shared" / "EQUATIONS.md";
  std::vector<std::string> ids;
  if (fs::is_regular_file(equations)) {
    ids = ids_of_equations(read(equations));
    MESSAGE("IDs read from " << equations.string() << " (" << ids.size() << " IDs)");
    REQUIRE(ids.size() >= 60);
    // The compiled-in copy is a fallback: say when it has fallen behind.
    for (const std::string& id : ids) {
      if (std::find(kCompiledIds.begin(), kCompiledIds.end(), id) == kCompiledIds.end()) {
        MESSAGE("note: " << id << " is missing from this test's compiled-in ID list");
      }
    }
  } else {
    ids = kCompiledIds;
    MESSAGE("../shared/EQUATIONS.md not found; using the compiled-in list of " << ids.size() << " IDs");
  }

  std::string code_comments, test_names;
  for (const auto& entry : fs::recursive_directory_iterator(root / "diffusion")) {
    if (entry.is_regular_file() && is_source(entry.path())) code_comments += comments_of(read(entry.path()));
  }
  for (const auto& entry : fs::recursive_directory_iterator(root / "tests")) {
    if (entry.is_regular_file() && is_source(entry.path())) test_names += test_names_of(read(entry.path()));
  }

  std::vector<std::string> not_in_code, not_in_tests;
  for (const std::string& id : ids) {
    if (!mentions(code_comments, id)) not_in_code.push_back(id);
    if (!mentions(test_names, id)) not_in_tests.push_back(id);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& id : v) s += (s.empty() ? "" : " ") + id;
    return s.empty() ? std::string("(none)") : s;
  };
  MESSAGE("IDs cited in no comment of diffusion/: " << join(not_in_code));
  MESSAGE("IDs named by no TEST_CASE under tests/: " << join(not_in_tests));
  CHECK_MESSAGE(not_in_code.empty(), "not cited in diffusion/: " << join(not_in_code));
  CHECK_MESSAGE(not_in_tests.empty(), "not named by a test: " << join(not_in_tests));
}

TEST_CASE("coverage helpers: whole-token IDs, comments only, test names only") {
  CHECK(mentions("see E3 and E30", "E3"));
  CHECK_FALSE(mentions("see E30 and E3a", "E3"));
  CHECK(mentions("(E3a)", "E3a"));
  CHECK(comments_of("int x; // E7 here\nauto s = \"// E8 not\"; /* E9 */") == " E7 here\n E9 \n");
  CHECK(test_names_of("TEST_CASE(\"V6 E17-E18: ok\") {}\n// TEST_CASE is a macro") == "V6 E17-E18: ok\n");
  CHECK(ids_of_equations("| E3a | cosine |\n| V12 | E25 | x |\n| ID | name |") ==
        std::vector<std::string>{"E3a", "V12"});
}
