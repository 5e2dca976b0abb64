// avg_pool2d and max_pool2d: argument checks, the output shape, the kernel calls, and
// the backward.   x [N, C, H, W] -> out [N, C, H_out, W_out]
#include "autograd/ops/pool.h"

#include "autograd/ops/common.h"
#include "cuda/pool.h"
#include "tensor/cpu/pool.h"

namespace kiln {

using autograd::record;
using ops::grads;

namespace {

// Checks the arguments of a pooling op named `op` and returns the kernel's params.
cpu::Pool2dParams pool2d_params(const char* op, const Tensor& x,
                                std::array<std::int64_t, 2> kernel,
                                std::array<std::int64_t, 2> stride,
                                std::array<std::int64_t, 2> padding) {
  KILN_CHECK(x.defined(), "{}: undefined tensor argument", op);
  dispatch_floating(x.dtype(), op, [] <class T>() {});
  const std::string xs = shape_str(x.shape());
  KILN_CHECK(x.dim() == 4, "{}: input must be 4-D [N, C, H, W], got {}", op, xs);
  KILN_CHECK(kernel[0] >= 1 && kernel[1] >= 1, "{}: kernel must be positive, got [{}, {}]", op,
             kernel[0], kernel[1]);
  KILN_CHECK(stride[0] >= 0 && stride[1] >= 0,
             "{}: stride must be positive (or 0 for stride = kernel), got [{}, {}]", op, stride[0],
             stride[1]);
  if (stride[0] == 0) stride[0] = kernel[0];
  if (stride[1] == 0) stride[1] = kernel[1];
  KILN_CHECK(padding[0] >= 0 && padding[1] >= 0 && 2 * padding[0] <= kernel[0] &&
                 2 * padding[1] <= kernel[1],
             "{}: padding [{}, {}] must be between 0 and half the kernel [{}, {}]", op, padding[0],
             padding[1], kernel[0], kernel[1]);
  cpu::Pool2dParams p;
  p.planes = x.shape()[0] * x.shape()[1], p.H = x.shape()[2], p.W = x.shape()[3];
  p.KH = kernel[0], p.KW = kernel[1];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  KILN_CHECK(p.H >= 1 && p.W >= 1 && p.KH <= p.H + 2 * p.pad_h && p.KW <= p.W + 2 * p.pad_w,
             "{}: kernel {}x{} is larger than the padded input {}x{} (input {}, padding [{}, {}])",
             op, p.KH, p.KW, p.H + 2 * p.pad_h, p.W + 2 * p.pad_w, xs, p.pad_h, p.pad_w);
  p.H_out = (p.H + 2 * p.pad_h - p.KH) / p.stride_h + 1;
  p.W_out = (p.W + 2 * p.pad_w - p.KW) / p.stride_w + 1;
  return p;
}

Shape out_shape(const Tensor& x, const cpu::Pool2dParams& p) {
  return {x.shape()[0], x.shape()[1], p.H_out, p.W_out};
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> padding) {
  const cpu::Pool2dParams p = pool2d_params("avg_pool2d", x, kernel, stride, padding);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(out_shape(x, p), {.dtype = x.dtype(), .device = x.device()});
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::avg_pool2d_forward<T> : &cuda::avg_pool2d_forward<T>;
    kernel(p, static_cast<const T*>(xc.raw_data()), static_cast<T*>(out.raw_data()));
  });
  // Heavy op: the backward is its own kernel; it needs only the geometry.
  return record("AvgPool2dBackward", out, {x}, [p, shape = x.shape()](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(shape, {.dtype = g.dtype(), .device = g.device()});
    dispatch_floating(g.dtype(), "avg_pool2d_backward", [&]<class T>() {
      auto kernel =
          g.device().is_cpu() ? &cpu::avg_pool2d_backward<T> : &cuda::avg_pool2d_backward<T>;
      kernel(p, static_cast<const T*>(gc.raw_data()), static_cast<T*>(gx.raw_data()));
    });
    return grads(gx);
  });
}

Tensor max_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel,
                  std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> padding) {
  const cpu::Pool2dParams p = pool2d_params("max_pool2d", x, kernel, stride, padding);
  const Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(out_shape(x, p), {.dtype = x.dtype(), .device = x.device()});
  Tensor indices = Tensor::empty(out_shape(x, p), {.dtype = DType::Int64, .device = x.device()});
  dispatch_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    auto kernel = x.device().is_cpu() ? &cpu::max_pool2d_forward<T> : &cuda::max_pool2d_forward<T>;
    kernel(p, static_cast<const T*>(xc.raw_data()), static_cast<T*>(out.raw_data()),
           static_cast<std::int64_t*>(indices.raw_data()));
  });
  // Heavy op: the backward routes each gradient to the argmax the forward recorded.
  return record("MaxPool2dBackward", out, {x}, [p, indices, shape = x.shape()](const Tensor& g) {
    KILN_CHECK(g.device() == indices.device(),
               "max_pool2d_backward: the gradient is on {} but the input was on {}", g.device(),
               indices.device());
    const Tensor gc = g.contiguous();
    Tensor gx = Tensor::empty(shape, {.dtype = g.dtype(), .device = g.device()});
    dispatch_floating(g.dtype(), "max_pool2d_backward", [&]<class T>() {
      auto kernel =
          g.device().is_cpu() ? &cpu::max_pool2d_backward<T> : &cuda::max_pool2d_backward<T>;
      kernel(p, static_cast<const T*>(gc.raw_data()),
             static_cast<const std::int64_t*>(indices.raw_data()), static_cast<T*>(gx.raw_data()));
    });
    return grads(gx);
  });
}

}  // namespace kiln
