// interpolate (nearest, bilinear): argument checks, the output shape, the kernel calls,
// and the backward.   x [N, C, H, W] -> out [N, C, H_out, W_out]
#include "autograd/ops/interpolate.h"

#include <cmath>

#include "autograd/ops/common.h"
#include "cuda/interpolate.h"
#include "tensor/cpu/interpolate.h"

namespace kiln {

using autograd::record;
using ops::grads;

namespace {

const char* mode_name(InterpolateMode mode) {
  return mode == InterpolateMode::Nearest ? "nearest" : "bilinear";
}

void check_input(const Tensor& x) {
  KILN_CHECK(x.defined(), "interpolate: undefined tensor argument");
  dispatch_floating(x.dtype(), "interpolate", [] <class T>() {});
  KILN_CHECK(x.dim() == 4, "interpolate: input must be 4-D [N, C, H, W], got {}",
             shape_str(x.shape()));
  KILN_CHECK(x.shape()[2] >= 1 && x.shape()[3] >= 1,
             "interpolate: input {} has an empty spatial dim", shape_str(x.shape()));
}

// Runs the forward with the given params (already checked) and records the backward.
Tensor interpolate_impl(const Tensor& x, cpu::Interpolate2dParams p, InterpolateMode mode) {
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty({x.shape()[0], x.shape()[1], p.H_out, p.W_out},
                             {.dtype = x.dtype(), .device = x.device()});
  dispatch_floating(x.dtype(), "interpolate", [&]<class T>() {
    const bool on_cpu = x.device().is_cpu();
    auto kernel = mode == InterpolateMode::Nearest
                      ? (on_cpu ? &cpu::interpolate_nearest_forward<T>
                             : &cuda::interpolate_nearest_forward<T>)
                      : (on_cpu ? &cpu::interpolate_bilinear_forward<T>
                             : &cuda::interpolate_bilinear_forward<T>);
    kernel(p, static_cast<const T*>(xc.raw_data()), static_cast<T*>(out.raw_data()));
  });
  // Heavy op: the backward is its own kernel (the adjoint); it needs only the geometry.
  const char* name = mode == InterpolateMode::Nearest ? "InterpolateNearestBackward"
                                                      : "InterpolateBilinearBackward";
  return record(name, out, {x}, [p, mode, shape = x.shape()](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(shape, {.dtype = g.dtype(), .device = g.device()});
    dispatch_floating(g.dtype(), "interpolate_backward", [&]<class T>() {
      const bool on_cpu = g.device().is_cpu();
      auto kernel = mode == InterpolateMode::Nearest
                        ? (on_cpu ? &cpu::interpolate_nearest_backward<T>
                               : &cuda::interpolate_nearest_backward<T>)
                        : (on_cpu ? &cpu::interpolate_bilinear_backward<T>
                               : &cuda::interpolate_bilinear_backward<T>);
      kernel(p, static_cast<const T*>(gc.raw_data()), static_cast<T*>(gx.raw_data()));
    });
    return grads(gx);
  });
}

cpu::Interpolate2dParams base_params(const Tensor& x) {
  cpu::Interpolate2dParams p;
  p.planes = x.shape()[0] * x.shape()[1], p.H = x.shape()[2], p.W = x.shape()[3];
  return p;
}

}  // namespace

Tensor interpolate(const Tensor& x, std::array<std::int64_t, 2> size, InterpolateMode mode) {
  check_input(x);
  KILN_CHECK(size[0] >= 1 && size[1] >= 1,
             "interpolate ({}): output size must be positive, got [{}, {}] for input {}",
             mode_name(mode), size[0], size[1], shape_str(x.shape()));
  cpu::Interpolate2dParams p = base_params(x);
  p.H_out = size[0], p.W_out = size[1];
  p.scale_h = static_cast<double>(p.H) / static_cast<double>(p.H_out);
  p.scale_w = static_cast<double>(p.W) / static_cast<double>(p.W_out);
  return interpolate_impl(x, p, mode);
}

Tensor interpolate(const Tensor& x, double scale_factor, InterpolateMode mode) {
  check_input(x);
  KILN_CHECK(std::isfinite(scale_factor) && scale_factor > 0,
             "interpolate ({}): scale_factor must be positive and finite, got {} for input {}",
             mode_name(mode), scale_factor, shape_str(x.shape()));
  cpu::Interpolate2dParams p = base_params(x);
  p.H_out = static_cast<std::int64_t>(std::floor(static_cast<double>(p.H) * scale_factor));
  p.W_out = static_cast<std::int64_t>(std::floor(static_cast<double>(p.W) * scale_factor));
  KILN_CHECK(p.H_out >= 1 && p.W_out >= 1,
             "interpolate ({}): scale_factor {} turns input {} into an empty output {}x{}",
             mode_name(mode), scale_factor, shape_str(x.shape()), p.H_out, p.W_out);
  p.scale_h = p.scale_w = 1.0 / scale_factor;
  return interpolate_impl(x, p, mode);
}

}  // namespace kiln
