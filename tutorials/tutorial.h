#pragma once
// What every tutorial shares: its two modes and where its figures go.
//
//   tutorial_chNN --quick [--out DIR]   seconds: small sizes; what the tests run
//   tutorial_chNN [--out DIR]           the chapter's figures and tables, full size
//
// Figures (PNG) and tables (Markdown, which the book includes with {{output NAME}}) are
// written into DIR (default: the current folder); `cmake --build build --target book`
// runs every tutorial into build/book/figures.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "data/data.h"

namespace tutorial {

struct Args {
  bool quick = false;
  std::filesystem::path out = ".";

  std::filesystem::path file(const std::string& name) const { return out / name; }
  // Writes a Markdown table (or any text) the book includes.
  void write(const std::string& name, const std::string& text) const {
    std::ofstream f(file(name));
    f << text;
    if (!f) throw std::runtime_error("cannot write " + file(name).string());
    std::printf("wrote %s\n", file(name).c_str());
  }
};

inline Args parse(int argc, char** argv, const char* what) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, also into a log file
  Args a;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      a.quick = true;
    } else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
      a.out = argv[++i];
    } else {
      std::printf("%s\nusage: %s [--quick] [--out DIR]\n", what, argv[0]);
      std::exit(std::strcmp(argv[i], "--help") ? 2 : 0);
    }
  }
  std::filesystem::create_directories(a.out);
  std::printf("%s (%s mode)\n", what, a.quick ? "quick" : "full");
  return a;
}

// Seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds per call of f: one warm-up call (page faults, buffers), then as many calls as
// fit in `budget` seconds; a call slower than the budget is timed by the warm-up alone.
template <class F>
double seconds_per_call(F&& f, double budget) {
  const auto warm = std::chrono::steady_clock::now();
  f();
  const double first = seconds_since(warm);
  if (first >= budget) return first;
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  do {
    f();
    ++calls;
  } while (seconds_since(start) < budget);
  return seconds_since(start) / calls;
}

// Runs main's body, turning an exception into a message and exit status 1.
template <class F>
int run(F&& body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace tutorial
