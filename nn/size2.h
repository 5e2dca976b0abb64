#pragma once
// nn::Size2: a (height, width) pair that also accepts one number for both, so layer
// arguments read like PyTorch's:  Conv2d(3, 64, 3, {.padding = 1}),  {.stride = {2, 1}}.
#include <array>
#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace kiln::nn {

struct Size2 {
  std::int64_t h = 0, w = 0;
  Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(std::int64_t h, std::int64_t w) : h(h), w(w) {}
  std::array<std::int64_t, 2> array() const { return {h, w}; }
  std::string str() const { return h == w ? std::to_string(h) : fmt::format("({}, {})", h, w); }
  friend bool operator==(const Size2&, const Size2&) = default;
};

}  // namespace kiln::nn
