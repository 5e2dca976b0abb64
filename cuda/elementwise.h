#pragma once
// CUDA element-wise kernels on raw device pointers: the same names and contracts as
// tensor/cpu/elementwise.h, with the formulas of tensor/functors.h (Note [One formula,
// two devices]). Pointers are already moved to the view's offset; out is contiguous with
// the Layouts' shape. Instantiated for float, double and int64 (copy: every pair).
#include "tensor/functors.h"
#include "tensor/shape.h"

namespace kiln::cuda {

template <class T>
void unary(UnaryOp op, const T* a, const Layout& la, T* out);
template <class T>
void binary(BinaryOp op, const T* a, const Layout& la, const T* b, const Layout& lb, T* out);
template <class T>
void where(const T* cond, const Layout& lc, const T* a, const Layout& la, const T* b,
           const Layout& lb, T* out);
template <class T>
void clamp(const T* a, const Layout& la, bool has_lo, T lo, bool has_hi, T hi, T* out);
// dst[i] = Dst(src[i]) for two strided views of one shape, both on the GPU.
template <class Src, class Dst>
void copy(const Src* src, const Layout& ls, Dst* dst, const Layout& ld);
template <class T>
void fill(T* dst, const Layout& ld, T value);

}  // namespace kiln::cuda
