#pragma once
// The numeric verifications V1..V22 of EQUATIONS.md, as a table that `kiln verify`,
// the tests and the book all read.
//
// Note [Verification checks]
// Each check runs a numeric experiment on the derivation (a Monte-Carlo estimate, a
// closed form against a grid integral, an identity to rounding ...) and reports its
// measured error next to a tolerance that is *derived*, not guessed: a rounding bound,
// or a few Monte-Carlo standard errors with the sample count stated in `detail`. Fixed
// seeds make every run print the same numbers.
#include <functional>
#include <string>
#include <vector>

namespace kiln::diffusion {

struct CheckResult {
  std::string id;        // "V6"
  std::string what;      // one line: what is checked
  double error = 0;      // the measured error (its meaning is stated in `detail`)
  double tolerance = 0;  // pass iff error <= tolerance (and the check's own conditions)
  bool passed = false;
  std::string detail;    // how the error and tolerance were computed, sample counts, ...
};

struct Check {
  std::string id;
  std::string what;
  std::function<CheckResult()> run;
};

// The checks of each part of the module (each defined next to the code it checks).
std::vector<Check> process_checks();   // V1-V9, V15, V16, V19, V21, V22
std::vector<Check> sampling_checks();  // V10-V14, V17, V18
std::vector<Check> network_checks();   // V20

// All checks, sorted by ID (V1, V2, ..., V22).
std::vector<Check> all_checks();
// Runs one check, turning an exception into a failed result that names it.
CheckResult run_check(const Check& check);

}  // namespace kiln::diffusion
