#include "diffusion/interpolation.h"

#include <cmath>
#include <numbers>

namespace kiln::diffusion {

namespace {
void check_pair(const Tensor& a, const Tensor& b, const char* op) {
  KILN_CHECK(a.defined() && b.defined(), "{}: undefined noise tensor", op);
  KILN_CHECK(a.shape() == b.shape(), "{}: a {} and b {} must have the same shape", op,
             shape_str(a.shape()), shape_str(b.shape()));
}
}  // namespace

// [region slerp]
// E32  x_T(s) = a sin(sπ/2) + b cos(sπ/2)
Tensor slerp(const Tensor& a, const Tensor& b, double s) {
  check_pair(a, b, "slerp");
  const double angle = s * std::numbers::pi / 2;
  return a * std::sin(angle) + b * std::cos(angle);
}
// [endregion]

// E32 with a tensor s (broadcast):  x_T(s) = a sin(sπ/2) + b cos(sπ/2)
Tensor slerp(const Tensor& a, const Tensor& b, const Tensor& s) {
  check_pair(a, b, "slerp");
  const Tensor angle = s * (std::numbers::pi / 2);
  return a * angle.sin() + b * angle.cos();
}

Tensor slerp_row(const Tensor& a, const Tensor& b, std::int64_t k) {
  check_pair(a, b, "slerp_row");
  KILN_CHECK(k >= 2, "slerp_row: needs k >= 2 interpolants (both ends), got {}", k);
  // s_j = j/(k-1) as a [k, 1, ..., 1] column, so it broadcasts over one sample's dims.
  Shape column(static_cast<std::size_t>(a.dim()) + 1, 1);
  column[0] = k;
  const Tensor s = Tensor::linspace(0, 1, k, {.dtype = a.dtype(), .device = a.device()}).view(column);
  return slerp(a.unsqueeze(0), b.unsqueeze(0), s);  // [k, ...]
}

}  // namespace kiln::diffusion
