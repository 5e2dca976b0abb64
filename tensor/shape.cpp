#include "tensor/shape.h"

#include <algorithm>

namespace kiln {

std::int64_t numel_of(const Shape& shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

// [region contiguous_strides]
Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t running = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = running;
    running *= std::max<std::int64_t>(shape[d], 1);
  }
  return strides;
}
// [endregion]

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    KILN_CHECK(da == db || da == 1 || db == 1,
               "{}: shapes {} and {} cannot be broadcast (dimension {}: {} vs {})", op,
               shape_str(a), shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  KILN_CHECK(dim >= lo && dim <= hi, "{}: dim {} out of range for a tensor with {} dims", op,
             dim, ndim);
  return static_cast<int>(dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim);
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Layout Layout::make(const Shape& shape, const Shape& strides) {
  KILN_CHECK(shape.size() <= static_cast<size_t>(kMaxDims),
             "kiln supports at most {} dims, got shape {}", kMaxDims, shape_str(shape));
  Layout l;
  l.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < l.ndim; ++d) {
    l.shape[d] = shape[d];
    l.strides[d] = strides[d];
  }
  return l;
}

}  // namespace kiln

namespace kiln {

void coalesce(Layout* layouts, int count) {
  Layout& first = layouts[0];
  int out = 0;
  for (int d = 0; d < first.ndim; ++d) {
    if (first.shape[d] == 1) continue;  // contributes nothing to any offset
    bool merge = out > 0;
    for (int k = 0; k < count && merge; ++k) {
      const Layout& l = layouts[k];
      merge = l.strides[out - 1] == l.strides[d] * l.shape[d];
    }
    for (int k = 0; k < count; ++k) {
      Layout& l = layouts[k];
      if (merge) {
        l.shape[out - 1] *= l.shape[d];
        l.strides[out - 1] = l.strides[d];
      } else {
        l.shape[out] = l.shape[d];
        l.strides[out] = l.strides[d];
      }
    }
    if (!merge) ++out;
  }
  for (int k = 0; k < count; ++k) layouts[k].ndim = out;
}

}  // namespace kiln
