#pragma once
// Indexing and joining ops, with PyTorch's semantics. The Tensor methods
// (x.gather(dim, index), x.index_select(dim, index), x.repeat(repeats), x.split(size, dim),
// x.chunk(n, dim)) are declared in tensor/tensor.h and defined in autograd/ops/index.cpp.
//
//   cat(tensors, dim)          joins along an existing dim: sizes must match elsewhere.
//   stack(tensors, dim)        joins along a new dim: all shapes must be equal.
//   split / chunk              narrow views of x (share its storage); the last piece may
//                              be smaller, as in torch.
//   gather(x, dim, index)      out[..., j, ...] = x[..., index[..., j, ...], ...] along dim;
//                              index is int64 with x's number of dims and sizes ≤ x's
//                              outside dim; out has index's shape.
//   scatter_add(base, dim, index, src)
//                              out = base, then out[..., index[p], ...] += src[p] along
//                              dim for every position p of index (repeats accumulate).
//   index_select(x, dim, index)  picks whole slices: out has index.numel() of them along dim.
//   index_add(base, dim, index, src)
//                              out = base, then slice index[j] of out += slice j of src.
//   pad(x, pads, value)        constant padding, torch.nn.functional.pad's convention.
//
// Indices are int64 in [0, size) (negative indices are an error, as in torch.gather);
// every op checks them before its kernel runs. All ops here are differentiable with
// respect to their floating tensor arguments, to any order: gather and scatter_add are
// each other's backward, and so are index_select and index_add.
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace kiln {

// Concatenates along `dim`; inputs must share dtype, device, number of dims, and sizes
// in every other dim.
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
// Stacks equally shaped tensors along a new dim (in [-(ndim+1), ndim]).
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);

// Pieces of split_size along dim (the last one smaller when size % split_size != 0).
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim = 0);
// Pieces of the given sizes along dim; the sizes must add up to x.size(dim).
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<std::int64_t>& sizes,
                                     std::int64_t dim = 0);
// ceil(size / chunks)-sized pieces along dim: at most `chunks` of them.
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim = 0);

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& base, std::int64_t dim, const Tensor& index, const Tensor& src);

// Constant padding. `pads` holds (before, after) pairs starting from the LAST dim:
//   {left, right}                       pads the last dim,
//   {left, right, top, bottom}          pads the last two, and so on.
// Negative amounts crop instead. The padded cells hold `value`.
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value = 0);

}  // namespace kiln
