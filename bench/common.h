#pragma once
// What every benchmark under bench/ needs: timing, medians, running the PyTorch side as
// a child process, and writing the JSON file. Header-only, for the bench programs alone.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Seconds of one call: the best (the least disturbed by whatever else the machine runs)
// and the median, over `reps` timed calls.
struct Timing {
  double best_s = 0, median_s = 0;
  int reps = 0;
};

// One warm-up call, then timed calls until about `budget_s` seconds have passed
// (at least min_reps, at most max_reps).
inline Timing time_calls(const std::function<void()>& call, double budget_s = 0.5,
                         int min_reps = 5, int max_reps = 200) {
  call();
  std::vector<double> times;
  double total = 0;
  while (static_cast<int>(times.size()) < max_reps &&
         (static_cast<int>(times.size()) < min_reps || total < budget_s)) {
    const auto t0 = Clock::now();
    call();
    times.push_back(seconds_since(t0));
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2], static_cast<int>(times.size())};
}

// The process's peak resident set so far, in MiB (ru_maxrss is in KiB on Linux).
inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// The 1-minute load average: a benchmark on a shared machine records how busy it was.
inline double load_average() {
  double load1 = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load1) != 1) load1 = 0;
    std::fclose(f);
  }
  return load1;
}

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

// Runs a shell command and returns its standard output; its exit status goes to *status
// when given, else a failed command returns "".
inline std::string run_capture(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int code = pclose(pipe);
  if (status != nullptr) {
    *status = code;
  } else if (code != 0) {
    out.clear();
  }
  return out;
}

// Writes the results; returns the program's exit status (1 when the file can't be written).
inline int write_json(const std::string& path, const nlohmann::json& results, const char* program) {
  std::ofstream file(path);
  if (!file) {
    std::fprintf(stderr, "%s: cannot write %s\n", program, path.c_str());
    return 1;
  }
  file << results.dump(2) << "\n";
  std::printf("\nwrote %s\n", path.c_str());
  return 0;
}

}  // namespace kiln::bench
