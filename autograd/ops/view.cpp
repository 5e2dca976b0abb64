// Views (reshape, permute, slicing, expand, ...) and conversions (to, clone, contiguous).
//
// Note [Views share storage]
// A view is a new TensorImpl over the *same* Storage with a new shape/strides/offset
// (Note [Strides] in tensor/shape.h): writing through one is seen through the other, and
// making one costs no copy. For autograd a view is an ordinary op: its backward maps the
// gradient of the view back onto the shape of its base (reshape back, permute back,
// sum over expanded dims, scatter a slice into zeros), so gradients flow into the base.
#include <algorithm>
#include <numeric>

#include "autograd/ops/common.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"

namespace kiln {

using autograd::record;
using detail::make_view;
using ops::grads;

namespace {

Shape infer_shape(const Shape& requested, std::int64_t numel, const Shape& from, const char* op) {
  Shape shape = requested;
  std::int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      KILN_CHECK(infer < 0, "{}: only one dimension can be -1 in {}", op, shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      KILN_CHECK(shape[i] >= 0, "{}: invalid size {} in {}", op, shape[i], shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    KILN_CHECK(known != 0 && numel % known == 0,
               "{}: shape {} is invalid for input of shape {} ({} elements)", op,
               shape_str(requested), shape_str(from), numel);
    shape[infer] = numel / known;
  }
  KILN_CHECK(numel_of(shape) == numel,
             "{}: shape {} is invalid for input of shape {} ({} elements vs {})", op,
             shape_str(requested), shape_str(from), numel_of(shape), numel);
  return shape;
}

// Strides that let `shape` view the same elements as (old_shape, old_strides), or
// nothing when the memory order does not allow it (then reshape copies). Groups of old
// dims that are contiguous with each other can be split or merged freely.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides,
                                  const Shape& shape) {
  if (numel_of(old_shape) == 0) return contiguous_strides(shape);
  Shape strides(shape.size());
  // Drop size-1 dims of the old geometry: they constrain nothing.
  Shape os, ost;
  for (size_t i = 0; i < old_shape.size(); ++i)
    if (old_shape[i] != 1) {
      os.push_back(old_shape[i]);
      ost.push_back(old_strides[i]);
    }
  size_t oi = 0;  // next old dim
  size_t ni = 0;  // next new dim
  while (ni < shape.size() || oi < os.size()) {
    if (ni < shape.size() && shape[ni] == 1) {
      strides[ni] = 1;
      ++ni;
      continue;
    }
    if (oi >= os.size() || ni >= shape.size()) return std::nullopt;
    // Take a chunk of old dims that are mutually contiguous ...
    std::int64_t chunk = os[oi];
    size_t oend = oi + 1;
    // ... and new dims whose product matches it.
    std::int64_t prod = 1;
    size_t nend = ni;
    while (true) {
      while (nend < shape.size() && prod < chunk) prod *= shape[nend++];
      if (prod == chunk) break;
      if (oend >= os.size() || ost[oend - 1] != ost[oend] * os[oend]) return std::nullopt;
      chunk *= os[oend++];
    }
    // Assign row-major strides inside the chunk, based on its innermost stride.
    std::int64_t running = ost[oend - 1];
    for (size_t k = nend; k-- > ni;) {
      strides[k] = running;
      running *= shape[k];
    }
    oi = oend;
    ni = nend;
  }
  return strides;
}

// The backward of every slicing view: a zero tensor of the base's shape with the
// gradient written into the slice. It is itself differentiable (its backward slices
// again), so double backward through views works.
Tensor slice_scatter_zeros(const Tensor& g, const Shape& base_shape, int dim, std::int64_t start,
                           std::int64_t step) {
  Tensor out = Tensor::zeros(base_shape, {.dtype = g.dtype(), .device = g.device()});
  const std::int64_t len = g.shape()[dim];
  Shape strides = out.strides();
  const std::int64_t offset = start * strides[dim];
  strides[dim] *= step;
  Tensor window = make_view(out, g.shape(), strides, offset);
  detail::copy_strided(g, window);
  return record("SliceBackward", out, {g}, [dim, start, step, len](const Tensor& gg) {
    return grads(gg.slice(dim, start, start + (len - 1) * step + 1, step));
  });
}

}  // namespace

Tensor Tensor::view(const Shape& requested) const {
  check_defined("view");
  const Shape shape = infer_shape(requested, numel(), this->shape(), "view");
  auto strides = view_strides(this->shape(), this->strides(), shape);
  KILN_CHECK(strides.has_value(),
             "view: shape {} is not compatible with the strides {} of input shape {}; use "
             "reshape (which copies) or contiguous() first",
             shape_str(requested), shape_str(this->strides()), shape_str(this->shape()));
  Tensor out = make_view(*this, shape, *strides, offset());
  return record("ViewBackward", out, {*this},
                [in_shape = this->shape()](const Tensor& g) { return grads(g.reshape(in_shape)); });
}

Tensor Tensor::reshape(const Shape& requested) const {
  check_defined("reshape");
  const Shape shape = infer_shape(requested, numel(), this->shape(), "reshape");
  if (view_strides(this->shape(), this->strides(), shape)) return view(shape);
  return contiguous().view(shape);
}

// [region permute]
Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  check_defined("permute");
  KILN_CHECK(static_cast<std::int64_t>(dims.size()) == dim(),
             "permute: {} dims given for a tensor of shape {}", dims.size(), shape_str(shape()));
  Shape shape(dims.size()), strides(dims.size());
  std::vector<std::int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int d = normalize_dim(dims[i], dim(), "permute");
    KILN_CHECK(inverse[d] < 0, "permute: dim {} repeated in [{}]", d, fmt::join(dims, ", "));
    inverse[d] = static_cast<std::int64_t>(i);
    shape[i] = this->shape()[d];
    strides[i] = this->strides()[d];
  }
  Tensor out = make_view(*this, shape, strides, offset());
  return record("PermuteBackward", out, {*this},
                [inverse](const Tensor& g) { return grads(g.permute(inverse)); });
}
// [endregion]

Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  check_defined("transpose");
  std::vector<std::int64_t> order(static_cast<size_t>(dim()));
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[normalize_dim(d0, dim(), "transpose")], order[normalize_dim(d1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::t() const {
  KILN_CHECK(dim() == 2, "t: expects a 2-D tensor, got shape {}", shape_str(shape()));
  return transpose(0, 1);
}

Tensor Tensor::squeeze() const {
  check_defined("squeeze");
  Shape shape;
  for (auto s : this->shape())
    if (s != 1) shape.push_back(s);
  return reshape(shape);
}

Tensor Tensor::squeeze(std::int64_t d) const {
  check_defined("squeeze");
  const int dd = normalize_dim(d, dim(), "squeeze");
  if (dim() == 0 || shape()[dd] != 1) return view(shape());
  Shape shape = this->shape();
  shape.erase(shape.begin() + dd);
  return view(shape);
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  check_defined("unsqueeze");
  const int dd = normalize_dim(d, dim() + 1, "unsqueeze");
  Shape shape = this->shape(), strides = this->strides();
  const std::int64_t stride = dd < dim() ? strides[dd] * shape[dd] : 1;
  shape.insert(shape.begin() + dd, 1);
  strides.insert(strides.begin() + dd, stride);
  Tensor out = make_view(*this, shape, strides, offset());
  return record("UnsqueezeBackward", out, {*this},
                [in_shape = this->shape()](const Tensor& g) { return grads(g.reshape(in_shape)); });
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  check_defined("flatten");
  if (dim() == 0) return reshape({1});
  const int s = normalize_dim(start_dim, dim(), "flatten");
  const int e = normalize_dim(end_dim, dim(), "flatten");
  KILN_CHECK(s <= e, "flatten: start_dim {} after end_dim {}", start_dim, end_dim);
  Shape shape(this->shape().begin(), this->shape().begin() + s);
  std::int64_t merged = 1;
  for (int d = s; d <= e; ++d) merged *= this->shape()[d];
  shape.push_back(merged);
  shape.insert(shape.end(), this->shape().begin() + e + 1, this->shape().end());
  return reshape(shape);
}

// [region slice]
Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  check_defined("slice");
  KILN_CHECK(dim() > 0, "slice: cannot slice a 0-d tensor");
  const int dd = normalize_dim(d, dim(), "slice");
  KILN_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const std::int64_t size = shape()[dd];
  // Python semantics: negative indices count from the end, out-of-range ones clamp.
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<std::int64_t>(start, 0, size);
  end = std::clamp<std::int64_t>(end, start, size);
  // BEGIN ASSIGNMENT 1.1
  const std::int64_t len = (end - start + step - 1) / step;
  Shape shape = this->shape(), strides = this->strides();
  shape[dd] = len;
  const std::int64_t off = offset() + start * strides[dd];
  strides[dd] *= step;
  Tensor out = make_view(*this, shape, strides, off);
  return record("SliceBackward", out, {*this},
                [in_shape = this->shape(), dd, start, step](const Tensor& g) {
                  return grads(slice_scatter_zeros(g, in_shape, dd, start, step));
                });
  // END ASSIGNMENT
}
// [endregion]

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  check_defined("narrow");
  const int dd = normalize_dim(d, dim(), "narrow");
  const std::int64_t size = shape()[dd];
  if (start < 0) start += size;
  KILN_CHECK(start >= 0 && length >= 0 && start + length <= size,
             "narrow: range [{}, {}) out of bounds for dim {} of shape {}", start, start + length,
             dd, shape_str(shape()));
  return slice(dd, start, start + length, 1);
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  check_defined("select");
  const int dd = normalize_dim(d, dim(), "select");
  const std::int64_t size = shape()[dd];
  KILN_CHECK(index >= -size && index < size, "select: index {} out of range for dim {} of shape {}",
             index, dd, shape_str(shape()));
  if (index < 0) index += size;
  return slice(dd, index, index + 1, 1).squeeze(dd);
}

Tensor Tensor::expand(const Shape& requested) const {
  check_defined("expand");
  KILN_CHECK(requested.size() >= shape().size(),
             "expand: cannot expand shape {} to fewer dims {}", shape_str(shape()),
             shape_str(requested));
  const size_t lead = requested.size() - shape().size();
  Shape shape(requested.size()), strides(requested.size());
  for (size_t i = 0; i < requested.size(); ++i) {
    if (i < lead) {
      KILN_CHECK(requested[i] >= 0, "expand: size -1 not allowed in a new leading dim ({})",
                 shape_str(requested));
      shape[i] = requested[i];
      strides[i] = 0;
      continue;
    }
    const std::int64_t have = this->shape()[i - lead];
    const std::int64_t want = requested[i] == -1 ? have : requested[i];
    KILN_CHECK(have == want || have == 1,
               "expand: shape {} cannot be expanded to {} (dim {}: {} -> {})",
               shape_str(this->shape()), shape_str(requested), i, have, want);
    shape[i] = want;
    strides[i] = have == want ? this->strides()[i - lead] : 0;
  }
  if (shape == this->shape()) return view(shape);
  Tensor out = make_view(*this, shape, strides, offset());
  return record("ExpandBackward", out, {*this},
                [in_shape = this->shape()](const Tensor& g) { return grads(ops::sum_to(g, in_shape)); });
}

// ---- conversions ------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  check_defined("contiguous");
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  check_defined("clone");
  return record("CloneBackward", detail::contiguous_copy(*this, dtype()), {*this},
                [](const Tensor& g) { return grads(g); });
}

Tensor Tensor::to(DType target) const {
  check_defined("to");
  if (target == dtype()) return *this;
  Tensor out = detail::contiguous_copy(*this, target);
  if (!is_floating(target)) return out;  // an int64 copy carries no gradient
  return record("ToDtypeBackward", out, {*this},
                [from = dtype()](const Tensor& g) { return grads(g.to(from)); });
}

Tensor Tensor::to(Device target) const {
  check_defined("to");
  if (target == device()) return *this;
  return record("ToDeviceBackward", detail::copy_to_device(*this, target), {*this},
                [from = device()](const Tensor& g) { return grads(g.to(from)); });
}

}  // namespace kiln
