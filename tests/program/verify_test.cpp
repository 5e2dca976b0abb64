// `kiln verify`: the table a learner or grader reads, its JSON, --only, and the exit
// status (non-zero on any failure or on an unknown check).
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "program/run_kiln.h"

namespace {

using kiln_test::Run;
Run run(const std::string& args) { return kiln_test::run_kiln(args); }

}  // namespace

TEST_CASE("kiln verify runs every V-check and they all pass") {
  const Run r = run("verify");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("22 passed, 0 failed") != std::string::npos);
  for (int v = 1; v <= 22; ++v) CHECK(r.out.find("\nV" + std::to_string(v) + " ") != std::string::npos);
  CHECK(r.out.find("FAIL") == std::string::npos);
}

TEST_CASE("kiln verify --only and --json") {
  const Run r = run("verify --only V6 --json");
  INFO(r.out);
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["id"] == "V6");
  CHECK(j[0]["passed"] == true);
  CHECK(j[0]["error"].get<double>() <= j[0]["tolerance"].get<double>());
  CHECK_FALSE(j[0]["detail"].get<std::string>().empty());
}

TEST_CASE("kiln verify refuses an unknown check with a non-zero status") {
  const Run r = run("verify --only V99");
  CHECK(r.status != 0);
  CHECK(r.out.find("unknown check 'V99'") != std::string::npos);
}

TEST_CASE("kiln --help and verify --help explain the options") {
  const Run top = run("--help");
  CHECK(top.out.find("verify") != std::string::npos);
  const Run help = run("verify --help");
  CHECK(help.status == 0);
  CHECK(help.out.find("--only") != std::string::npos);
  CHECK(help.out.find("--json") != std::string::npos);
}
