#pragma once
// Errors: every user-facing failure is a kiln::Error whose message names the op and
// the shapes, dtypes and devices involved, e.g.
//   matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)
// `assert` is kept for internal invariants only.
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by the stubs of the course assignments and by features a backend lacks.
class NotImplemented : public Error {
 public:
  using Error::Error;
};

#ifndef __CUDACC__
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}
#else
// nvcc cannot evaluate fmt's compile-time format-string checks, so in .cu files the
// format string is checked when it runs.
template <class... Args>
[[noreturn]] void fail(std::string_view format, Args&&... args) {
  throw Error(fmt::vformat(format, fmt::make_format_args(args...)));
}
#endif

}  // namespace kiln

// KILN_CHECK(cond, "op: message {}", value) throws kiln::Error when cond is false.
#define KILN_CHECK(cond, ...)      \
  do {                             \
    if (!(cond)) {                 \
      ::kiln::fail(__VA_ARGS__);   \
    }                              \
  } while (0)
