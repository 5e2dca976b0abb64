#pragma once
// Helpers for tests that run the real `kiln` executable (KILN_EXE, set by tests/CMakeLists.txt):
// run it and capture its output and exit status, make a scratch folder, read files back.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kiln_test {

namespace fs = std::filesystem;

struct Run {
  int status = -1;  // the exit status, or -1 when killed by a signal
  std::string out;  // stdout and stderr together
  bool has(const std::string& text) const { return out.find(text) != std::string::npos; }
};

// `kiln <args>` with OMP_NUM_THREADS=1 (tiny models gain nothing from threads, and test
// suites run side by side must not oversubscribe the cores).
inline Run run_kiln(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=1 " + std::string(KILN_EXE) + " " + args + " 2>&1";
  Run r;
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.out += buf.data();
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A fresh folder under the system's temporary folder, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / ("kiln_program_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

}  // namespace kiln_test
