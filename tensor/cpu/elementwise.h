#pragma once
// CPU element-wise kernels on raw pointers. No Tensor, no autograd: the op layer
// (autograd/ops/elementwise.cpp) checks arguments, broadcasts (stride-0 views), and
// passes each operand as a pointer already moved to its offset plus a Layout.
//
//   out is always contiguous with the shape of the Layouts (all Layouts share it).
#include <cstdint>

#include "tensor/functors.h"
#include "tensor/shape.h"

namespace kiln::cpu {

// out[i] = op(a[i])
template <class T>
void unary(UnaryOp op, const T* a, const Layout& la, T* out);
// out[i] = op(a[i], b[i]); a and b are broadcast to out's shape by their strides.
template <class T>
void binary(BinaryOp op, const T* a, const Layout& la, const T* b, const Layout& lb, T* out);
// out[i] = cond[i] != 0 ? a[i] : b[i]
template <class T>
void where(const T* cond, const Layout& lc, const T* a, const Layout& la, const T* b,
           const Layout& lb, T* out);
// out[i] = min(max(a[i], lo), hi); a bound is skipped when its has_* flag is false.
template <class T>
void clamp(const T* a, const Layout& la, bool has_lo, T lo, bool has_hi, T hi, T* out);
// dst[i] = Dst(src[i]) for two strided views of one shape (dtype conversion included).
template <class Src, class Dst>
void copy(const Src* src, const Layout& ls, Dst* dst, const Layout& ld);
// dst[i] = value over a strided view.
template <class T>
void fill(T* dst, const Layout& ld, T value);

}  // namespace kiln::cpu
