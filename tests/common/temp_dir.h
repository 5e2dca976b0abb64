#pragma once
// For tests that write files: a scratch folder per test case, and whole files read and
// written as bytes.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace kiln_test {

namespace fs = std::filesystem;

// A fresh folder under the system's temporary folder, removed with the object. The name
// holds the process id and a counter, so suites running side by side never share one.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& prefix = "kiln_test") {
    static int counter = 0;
    path = fs::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const std::string& name) const { return path / name; }
};

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace kiln_test
