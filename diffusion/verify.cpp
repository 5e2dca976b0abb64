#include "diffusion/verify.h"

#include <algorithm>
#include <exception>
#include <string>

namespace kiln::diffusion {

std::vector<Check> all_checks() {
  std::vector<Check> checks;
  for (auto part : {process_checks, sampling_checks, network_checks}) {
    auto more = part();
    checks.insert(checks.end(), more.begin(), more.end());
  }
  // "V2" < "V10": compare the numbers, not the strings.
  std::sort(checks.begin(), checks.end(), [](const Check& a, const Check& b) {
    return std::stoi(a.id.substr(1)) < std::stoi(b.id.substr(1));
  });
  return checks;
}

CheckResult run_check(const Check& check) {
  try {
    CheckResult r = check.run();
    r.id = check.id;
    if (r.what.empty()) r.what = check.what;
    return r;
  } catch (const std::exception& e) {
    CheckResult r;
    r.id = check.id;
    r.what = check.what;
    r.passed = false;
    r.error = -1;
    r.detail = std::string("threw: ") + e.what();
    return r;
  }
}

}  // namespace kiln::diffusion
