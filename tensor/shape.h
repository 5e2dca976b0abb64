#pragma once
// Shapes and strides.
//
// Note [Strides]
// A tensor is a window onto a flat buffer: element (i0, i1, ..., in) lives at
//   storage[offset + i0*stride0 + i1*stride1 + ... + in*striden]      (in elements).
// A contiguous (row-major) tensor of shape [2, 3] has strides [3, 1]. Views change only
// shape/strides/offset: transpose swaps two strides, expand sets a stride to 0, slicing
// moves the offset and multiplies a stride by the step. No data moves.
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace kiln {

using Shape = std::vector<std::int64_t>;

std::int64_t numel_of(const Shape& shape);
// Row-major strides for `shape`: the last dimension varies fastest.
Shape contiguous_strides(const Shape& shape);
// NumPy broadcasting: align from the right; sizes must be equal or one of them 1.
// `op` names the caller in the error ("add: shapes [3] and [4] cannot be broadcast").
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op);
std::string shape_str(const Shape& shape);  // "[2, 3]"

// A plain description of a strided operand, small enough to pass by value to a CUDA
// kernel. Kernels receive a pointer already moved to the view's offset plus a Layout.
inline constexpr int kMaxDims = 8;
struct Layout {
  int ndim = 0;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t strides[kMaxDims] = {};

  static Layout make(const Shape& shape, const Shape& strides);
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

}  // namespace kiln

namespace kiln {
// Merges adjacent dims that are contiguous with each other in *every* layout and drops
// size-1 dims, so a contiguous [32, 64, 8, 8] operand becomes one flat loop of 131072.
// All layouts must have the same shape; they are rewritten in place.
void coalesce(Layout* layouts, int count);
}  // namespace kiln
