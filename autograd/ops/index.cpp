// Indexing and joining ops: argument checks, the kernel calls, and the backward.
// Shapes (d is the indexed / joined dim):
//   cat           inputs (..., n_i, ...) -> out (..., Σ n_i, ...)
//   stack         k inputs of shape S -> out with a new dim of size k at d
//   gather        x (..., n, ...), index (..., m, ...) -> out shaped like index
//   scatter_add   base (..., n, ...), index (..., m, ...), src ≥ index -> out shaped like base
//   index_select  x (..., n, ...), index (m) -> out (..., m, ...)
//   index_add     base (..., n, ...), index (m), src (..., m, ...) -> out shaped like base
//   pad           x (..., n, ...) -> out (..., before + n + after, ...)
//
// Note [Adjoint pairs]
// gather reads x at positions chosen by the data; its backward must send each gradient
// entry back to the position it was read from, adding where a position was read twice:
// that is scatter_add into zeros. Conversely, the backward of scatter_add with respect
// to src reads the gradient at those same positions: a gather. Each backward is written
// with the other *differentiable* op, so double backward needs no extra code.
// index_select / index_add are the same pair for whole slices, and pad is its own
// adjoint with the pads negated (padding adds cells, negative padding crops them).
#include "autograd/ops/index.h"

#include <algorithm>

#include "autograd/ops/common.h"
#include "cuda/index.h"
#include "tensor/cpu/index.h"

namespace kiln {

using autograd::record;
using ops::grads;

namespace {

// Product of shape[begin, end).
std::int64_t prod(const Shape& shape, std::int64_t begin, std::int64_t end) {
  std::int64_t n = 1;
  for (std::int64_t k = begin; k < end; ++k) n *= shape[k];
  return n;
}

// An index argument must be an int64 tensor on the input's device.
void check_index_tensor(const char* op, const Tensor& index, const Tensor& x) {
  KILN_CHECK(index.defined(), "{}: undefined index argument", op);
  KILN_CHECK(index.dtype() == DType::Int64,
             "{}: index must be int64, got {} (shape {}); convert it with .to(kInt64)", op,
             index.dtype(), shape_str(index.shape()));
  KILN_CHECK(index.device() == x.device(), "{}: index is on {} but the input is on {}", op,
             index.device(), x.device());
}

// Every value of the (contiguous) index must lie in [0, size): checked here, once,
// because the kernels do not check (a throw inside OpenMP would abort the program, and a
// GPU kernel cannot throw). A GPU index is copied to the host for the check.
void check_range(const char* op, const Tensor& index, int dim, std::int64_t size) {
  const Tensor host = ops::host_contiguous(index);
  const std::int64_t* p = host.data_ptr<std::int64_t>();
  const std::int64_t n = host.numel();
  for (std::int64_t k = 0; k < n; ++k) {
    if (p[k] < 0 || p[k] >= size)
      fail("{}: index {} out of range for dim {} of size {}", op, p[k], dim, size);
  }
}

// x (detached) narrowed to the first sizes[k] entries of every dim k (except `skip`).
Tensor narrow_to(const Tensor& x, const Shape& sizes, int skip) {
  Tensor out = x.detach();
  for (std::int64_t k = 0; k < x.dim(); ++k) {
    if (k != skip && out.shape()[k] != sizes[k]) out = out.narrow(k, 0, sizes[k]);
  }
  return out;
}

// The pads that grow a tensor of shape `from` into `to` by adding cells at the end of
// every dim (pad's convention: pairs from the last dim backwards).
std::vector<std::int64_t> pads_to(const Shape& from, const Shape& to) {
  std::vector<std::int64_t> pads;
  for (std::int64_t k = static_cast<std::int64_t>(to.size()) - 1; k >= 0; --k) {
    pads.push_back(0);
    pads.push_back(to[k] - from[k]);
  }
  return pads;
}

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace

// ---- joining ----------------------------------------------------------------------

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  KILN_CHECK(!tensors.empty(), "cat: expects a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    KILN_CHECK(tensors[i].defined(), "cat: tensor {} is undefined", i);
  const Tensor& t0 = tensors[0];
  KILN_CHECK(t0.dim() > 0,
             "cat: tensor 0 is 0-d; 0-d tensors cannot be concatenated (stack them instead)");
  const int d = normalize_dim(dim, t0.dim(), "cat");
  Shape shape = t0.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    KILN_CHECK(t.dtype() == t0.dtype(),
               "cat: tensor {} has dtype {} but tensor 0 has {} (shapes {} and {}); convert with "
               ".to(dtype)",
               i, t.dtype(), t0.dtype(), shape_str(t.shape()), shape_str(t0.shape()));
    KILN_CHECK(t.device() == t0.device(), "cat: tensor {} is on {} but tensor 0 is on {}", i,
               t.device(), t0.device());
    KILN_CHECK(t.dim() == t0.dim(),
               "cat: tensor {} has shape {} but tensor 0 has {} (all must have the same number "
               "of dims)",
               i, shape_str(t.shape()), shape_str(t0.shape()));
    for (int k = 0; k < t0.dim(); ++k) {
      KILN_CHECK(k == d || t.shape()[k] == t0.shape()[k],
                 "cat: tensor {} has shape {} but tensor 0 has {} (sizes must match except in "
                 "dim {})",
                 i, shape_str(t.shape()), shape_str(t0.shape()), d);
    }
    shape[d] += t.shape()[d];
  }

  // Each input is copied into its window of the output: a narrow view along d.
  Tensor out = Tensor::empty(shape, {.dtype = t0.dtype(), .device = t0.device()});
  std::vector<std::int64_t> starts, sizes;
  std::int64_t start = 0;
  for (const Tensor& t : tensors) {
    const std::int64_t n = t.shape()[d];
    if (t.numel() > 0) {
      Tensor window =
          detail::make_view(out, t.shape(), out.strides(), out.offset() + start * out.strides()[d]);
      detail::copy_strided(t, window);
    }
    starts.push_back(start);
    sizes.push_back(n);
    start += n;
  }
  return record("CatBackward", out, tensors, [d, starts, sizes](const Tensor& g) {
    std::vector<Tensor> gs;
    for (size_t i = 0; i < starts.size(); ++i) gs.push_back(g.narrow(d, starts[i], sizes[i]));
    return gs;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  KILN_CHECK(!tensors.empty(), "stack: expects a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    KILN_CHECK(tensors[i].defined(), "stack: tensor {} is undefined", i);
    KILN_CHECK(tensors[i].shape() == tensors[0].shape(),
               "stack: tensor {} has shape {} but tensor 0 has {} (all must have the same shape)",
               i, shape_str(tensors[i].shape()), shape_str(tensors[0].shape()));
  }
  const int d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d));
  return cat(parts, d);
}

// ---- splitting (views) ------------------------------------------------------------

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<std::int64_t>& sizes,
                                     std::int64_t dim) {
  KILN_CHECK(x.defined(), "split_with_sizes: undefined tensor argument");
  KILN_CHECK(x.dim() > 0, "split_with_sizes: cannot split a 0-d tensor");
  const int d = normalize_dim(dim, x.dim(), "split_with_sizes");
  std::int64_t total = 0;
  for (auto s : sizes) {
    KILN_CHECK(s >= 0, "split_with_sizes: negative size in [{}]", fmt::join(sizes, ", "));
    total += s;
  }
  KILN_CHECK(total == x.shape()[d],
             "split_with_sizes: sizes [{}] add up to {} but dim {} of shape {} has size {}",
             fmt::join(sizes, ", "), total, d, shape_str(x.shape()), x.shape()[d]);
  std::vector<Tensor> pieces;
  std::int64_t start = 0;
  for (auto s : sizes) {
    pieces.push_back(x.narrow(d, start, s));
    start += s;
  }
  return pieces;
}

std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim) {
  KILN_CHECK(x.defined(), "split: undefined tensor argument");
  KILN_CHECK(x.dim() > 0, "split: cannot split a 0-d tensor");
  const int d = normalize_dim(dim, x.dim(), "split");
  const std::int64_t size = x.shape()[d];
  KILN_CHECK(split_size > 0 || (split_size == 0 && size == 0),
             "split: split_size must be positive, got {} (dim {} of shape {})", split_size, d,
             shape_str(x.shape()));
  if (size == 0) return {x.narrow(d, 0, 0)};
  std::vector<Tensor> pieces;
  for (std::int64_t start = 0; start < size; start += split_size)
    pieces.push_back(x.narrow(d, start, std::min(split_size, size - start)));
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim) {
  KILN_CHECK(x.defined(), "chunk: undefined tensor argument");
  KILN_CHECK(chunks > 0, "chunk: chunks must be positive, got {}", chunks);
  KILN_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-d tensor");
  const int d = normalize_dim(dim, x.dim(), "chunk");
  const std::int64_t size = x.shape()[d];
  // As torch: pieces of ceil(size / chunks), so there may be fewer than `chunks`; an
  // empty dim still gives `chunks` empty pieces.
  if (size == 0) return split_with_sizes(x, std::vector<std::int64_t>(chunks, 0), d);
  return split(x, (size + chunks - 1) / chunks, d);
}

// ---- gather / scatter_add -----------------------------------------------------------

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  KILN_CHECK(x.defined(), "gather: undefined tensor argument");
  check_index_tensor("gather", index, x);
  KILN_CHECK(index.dim() == x.dim(),
             "gather: index has shape {} but the input has shape {} (they must have the same "
             "number of dims)",
             shape_str(index.shape()), shape_str(x.shape()));
  if (x.dim() == 0) {
    normalize_dim(dim, 1, "gather");
    return gather(x.reshape({1}), 0, index.reshape({1})).reshape({});
  }
  const int d = normalize_dim(dim, x.dim(), "gather");
  for (int k = 0; k < x.dim(); ++k) {
    KILN_CHECK(k == d || index.shape()[k] <= x.shape()[k],
               "gather: index shape {} is larger than input shape {} in dim {} (only dim {} may "
               "be larger)",
               shape_str(index.shape()), shape_str(x.shape()), k, d);
  }
  const Tensor idx = index.detach().contiguous();
  check_range("gather", idx, d, x.shape()[d]);

  // Outside d, index may be smaller than x: read only the leading part of x.
  const Tensor xs = narrow_to(x, index.shape(), d).contiguous();
  Tensor out = Tensor::empty(index.shape(), {.dtype = x.dtype(), .device = x.device()});
  const std::int64_t outer = prod(index.shape(), 0, d);
  const std::int64_t inner = prod(index.shape(), d + 1, index.dim());
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::gather<T> : &cuda::gather<T>;
    kernel(ptr<T>(xs), ptr<std::int64_t>(idx), ptr<T>(out), outer, x.shape()[d], index.shape()[d],
           inner);
  });
  // Note [Adjoint pairs]
  return record("GatherBackward", out, {x}, [shape = x.shape(), d, idx](const Tensor& g) {
    const Tensor zeros = Tensor::zeros(shape, {.dtype = g.dtype(), .device = g.device()});
    return grads(scatter_add(zeros, d, idx, g));
  });
}

Tensor scatter_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src) {
  ops::check_same("scatter_add", base, src);
  check_index_tensor("scatter_add", index, base);
  KILN_CHECK(index.dim() == base.dim() && src.dim() == base.dim(),
             "scatter_add: base {}, index {} and src {} must have the same number of dims",
             shape_str(base.shape()), shape_str(index.shape()), shape_str(src.shape()));
  if (base.dim() == 0) {
    normalize_dim(dim, 1, "scatter_add");
    return scatter_add(base.reshape({1}), 0, index.reshape({1}), src.reshape({1})).reshape({});
  }
  const int d = normalize_dim(dim, base.dim(), "scatter_add");
  for (int k = 0; k < base.dim(); ++k) {
    KILN_CHECK(index.shape()[k] <= src.shape()[k],
               "scatter_add: index shape {} is larger than src shape {} in dim {}",
               shape_str(index.shape()), shape_str(src.shape()), k);
    KILN_CHECK(k == d || index.shape()[k] <= base.shape()[k],
               "scatter_add: index shape {} is larger than base shape {} in dim {} (only dim {} "
               "may be larger)",
               shape_str(index.shape()), shape_str(base.shape()), k, d);
  }
  const Tensor idx = index.detach().contiguous();
  check_range("scatter_add", idx, d, base.shape()[d]);

  Tensor out = detail::contiguous_copy(base, base.dtype());
  // The kernel sees out as (outer, base.size(d), inner) over index's sizes outside d. When
  // index is smaller than base there, that region is a strided window of out: accumulate
  // into a contiguous copy of it and write it back.
  const Tensor region = narrow_to(out, index.shape(), d);
  const Tensor acc = region.is_contiguous() ? region : detail::contiguous_copy(region, out.dtype());
  const Tensor srcs = narrow_to(src, index.shape(), -1).contiguous();
  const std::int64_t outer = prod(index.shape(), 0, d);
  const std::int64_t inner = prod(index.shape(), d + 1, index.dim());
  dispatch(base.dtype(), [&]<class T>() {
    auto kernel = base.device().is_cpu() ? &cpu::scatter_add<T> : &cuda::scatter_add<T>;
    kernel(ptr<T>(srcs), ptr<std::int64_t>(idx), ptr<T>(acc), outer, base.shape()[d],
           index.shape()[d], inner);
  });
  if (!acc.is_same(region)) detail::copy_strided(acc, region);

  // Note [Adjoint pairs]: d out / d base is the identity, d out / d src a gather (padded
  // with zeros where src is larger than index: those entries were never read).
  return record("ScatterAddBackward", out, {base, src},
                [d, idx, src_shape = src.shape()](const Tensor& g) {
                  Tensor gsrc = gather(g, d, idx);
                  if (gsrc.shape() != src_shape) gsrc = pad(gsrc, pads_to(gsrc.shape(), src_shape));
                  return grads(g, gsrc);
                });
}

// ---- index_select / index_add -------------------------------------------------------

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  KILN_CHECK(x.defined(), "index_select: undefined tensor argument");
  check_index_tensor("index_select", index, x);
  KILN_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape {}",
             shape_str(index.shape()));
  if (x.dim() == 0) {
    normalize_dim(dim, 1, "index_select");
    KILN_CHECK(index.numel() == 1, "index_select: a 0-d input takes exactly one index, got {}",
               index.numel());
    return index_select(x.reshape({1}), 0, index).reshape({});
  }
  const int d = normalize_dim(dim, x.dim(), "index_select");
  const std::int64_t n = index.numel();
  const Tensor idx = index.detach().reshape({n}).contiguous();
  check_range("index_select", idx, d, x.shape()[d]);

  const Tensor xs = x.detach().contiguous();
  Shape shape = x.shape();
  shape[d] = n;
  Tensor out = Tensor::empty(shape, {.dtype = x.dtype(), .device = x.device()});
  const std::int64_t outer = prod(shape, 0, d), inner = prod(shape, d + 1, x.dim());
  dispatch(x.dtype(), [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::index_select<T> : &cuda::index_select<T>;
    kernel(ptr<T>(xs), ptr<std::int64_t>(idx), n, ptr<T>(out), outer, x.shape()[d], inner);
  });
  // Note [Adjoint pairs]
  return record("IndexSelectBackward", out, {x}, [shape = x.shape(), d, idx](const Tensor& g) {
    const Tensor zeros = Tensor::zeros(shape, {.dtype = g.dtype(), .device = g.device()});
    return grads(index_add(zeros, d, idx, g));
  });
}

Tensor index_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src) {
  ops::check_same("index_add", base, src);
  check_index_tensor("index_add", index, base);
  KILN_CHECK(index.dim() <= 1, "index_add: index must be 1-D, got shape {}",
             shape_str(index.shape()));
  if (base.dim() == 0) {
    normalize_dim(dim, 1, "index_add");
    KILN_CHECK(index.numel() == src.numel(),
               "index_add: {} indices for a src of shape {} (0-d base)", index.numel(),
               shape_str(src.shape()));
    return index_add(base.reshape({1}), 0, index, src.reshape({index.numel()})).reshape({});
  }
  const int d = normalize_dim(dim, base.dim(), "index_add");
  const std::int64_t n = index.numel();
  bool fits = src.dim() == base.dim();
  for (int k = 0; fits && k < base.dim(); ++k)
    fits = src.shape()[k] == (k == d ? n : base.shape()[k]);
  KILN_CHECK(fits,
             "index_add: src has shape {} but base {} with {} indices along dim {} needs src of "
             "base's shape with size {} in dim {}",
             shape_str(src.shape()), shape_str(base.shape()), n, d, n, d);
  const Tensor idx = index.detach().reshape({n}).contiguous();
  check_range("index_add", idx, d, base.shape()[d]);

  Tensor out = detail::contiguous_copy(base, base.dtype());
  const Tensor srcs = src.detach().contiguous();
  const std::int64_t outer = prod(base.shape(), 0, d);
  const std::int64_t inner = prod(base.shape(), d + 1, base.dim());
  dispatch(base.dtype(), [&]<class T>() {
    auto kernel = base.device().is_cpu() ? &cpu::index_add<T> : &cuda::index_add<T>;
    kernel(ptr<T>(srcs), ptr<std::int64_t>(idx), n, ptr<T>(out), outer, base.shape()[d], inner);
  });
  // Note [Adjoint pairs]
  return record("IndexAddBackward", out, {base, src},
                [d, idx](const Tensor& g) { return grads(g, index_select(g, d, idx)); });
}

// ---- pad ----------------------------------------------------------------------------

Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value) {
  KILN_CHECK(x.defined(), "pad: undefined tensor argument");
  KILN_CHECK(pads.size() % 2 == 0,
             "pad: pads must come in (before, after) pairs, got {} values [{}]", pads.size(),
             fmt::join(pads, ", "));
  const std::int64_t pairs = static_cast<std::int64_t>(pads.size()) / 2;
  KILN_CHECK(pairs <= x.dim(), "pad: {} pairs of pads [{}] for a tensor of shape {} ({} dims)",
             pairs, fmt::join(pads, ", "), shape_str(x.shape()), x.dim());

  // Along each padded dim, the cells of x that survive (all of them, unless a negative
  // pad crops) land at max(before, 0) in the output.
  Shape shape = x.shape();
  Tensor kept = x.detach();
  std::int64_t dst_offset = 0;
  const Shape out_strides = contiguous_strides([&] {
    Shape s = x.shape();
    for (std::int64_t p = 0; p < pairs; ++p) s[x.dim() - 1 - p] += pads[2 * p] + pads[2 * p + 1];
    return s;
  }());
  for (std::int64_t p = 0; p < pairs; ++p) {
    const std::int64_t k = x.dim() - 1 - p;
    const std::int64_t before = pads[2 * p], after = pads[2 * p + 1];
    const std::int64_t size = x.shape()[k];
    KILN_CHECK(size + before + after >= 0,
               "pad: pads ({}, {}) would shrink dim {} of shape {} below size 0", before, after, k,
               shape_str(x.shape()));
    shape[k] = size + before + after;
    const std::int64_t crop_lo = std::min(size, std::max<std::int64_t>(0, -before));
    const std::int64_t crop_hi = std::max<std::int64_t>(0, -after);
    const std::int64_t keep = std::max<std::int64_t>(0, size - crop_lo - crop_hi);
    kept = kept.narrow(k, crop_lo, keep);
    dst_offset += std::max<std::int64_t>(0, before) * out_strides[k];
  }
  Tensor out = Tensor::full(shape, value, {.dtype = x.dtype(), .device = x.device()});
  if (kept.numel() > 0) {
    detail::copy_strided(kept, detail::make_view(out, kept.shape(), out.strides(), dst_offset));
  }
  // Note [Adjoint pairs]: padding by -pads crops exactly the added cells (and re-pads with
  // zeros what was cropped).
  return record("PadBackward", out, {x}, [pads](const Tensor& g) {
    std::vector<std::int64_t> negated(pads.size());
    for (size_t i = 0; i < pads.size(); ++i) negated[i] = -pads[i];
    return grads(pad(g, negated, 0));
  });
}

// ---- methods ------------------------------------------------------------------------

Tensor Tensor::gather(std::int64_t dim, const Tensor& index) const {
  return kiln::gather(*this, dim, index);
}

Tensor Tensor::index_select(std::int64_t dim, const Tensor& index) const {
  return kiln::index_select(*this, dim, index);
}

std::vector<Tensor> Tensor::split(std::int64_t split_size, std::int64_t dim) const {
  return kiln::split(*this, split_size, dim);
}

std::vector<Tensor> Tensor::chunk(std::int64_t chunks, std::int64_t dim) const {
  return kiln::chunk(*this, chunks, dim);
}

// repeat as a composition of views, so its backward comes for free: a [2, 3] tensor
// repeated {4, 1, 5} is reshaped to [1, 1, 1, 2, 1, 3] (a 1 before every dim, and
// leading dims for the extra repeats), expanded to [4, 1, 1, 2, 5, 3] (stride 0, no
// copy), copied once, and viewed as [4, 2, 15]. The backward of expand sums the copies.
Tensor Tensor::repeat(const Shape& repeats) const {
  check_defined("repeat");
  KILN_CHECK(static_cast<std::int64_t>(repeats.size()) >= dim(),
             "repeat: {} repeats [{}] for a tensor of shape {} (need at least one per dim)",
             repeats.size(), fmt::join(repeats, ", "), shape_str(shape()));
  for (auto r : repeats)
    KILN_CHECK(r >= 0, "repeat: negative repeat in [{}]", fmt::join(repeats, ", "));
  const std::int64_t lead = static_cast<std::int64_t>(repeats.size()) - dim();
  Shape interleaved, expanded, result;
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(repeats.size()); ++k) {
    const std::int64_t s = k < lead ? 1 : shape()[k - lead];
    interleaved.insert(interleaved.end(), {1, s});
    expanded.insert(expanded.end(), {repeats[k], s});
    result.push_back(repeats[k] * s);
  }
  return reshape(interleaved).expand(expanded).clone().view(result);
}

}  // namespace kiln
