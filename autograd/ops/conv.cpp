// conv2d: argument checks, the output shape, the kernel call, and the backward.
//   input [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW], bias [C_out]
//   -> out [N, C_out, H_out, W_out]
// The kernels (tensor/cpu/conv.h) are im2col + GEMM; see Note [Convolution as GEMM].
#include "autograd/ops/conv.h"

#include "autograd/ops/common.h"
#include "cuda/conv.h"
#include "tensor/cpu/conv.h"

namespace kiln {

using autograd::record;

namespace {

// Checks every argument of conv2d and returns the kernel's params.
cpu::Conv2dParams conv2d_params(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                std::array<std::int64_t, 2> stride,
                                std::array<std::int64_t, 2> padding,
                                std::array<std::int64_t, 2> dilation, std::int64_t groups) {
  ops::check_same("conv2d", input, weight);
  const std::string in = shape_str(input.shape()), w = shape_str(weight.shape());
  KILN_CHECK(input.dim() == 4, "conv2d: input must be 4-D [N, C_in, H, W], got {}", in);
  KILN_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D [C_out, C_in/groups, KH, KW], got {}",
             w);
  if (bias.defined()) {
    ops::check_same("conv2d", input, bias);
    KILN_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0],
               "conv2d: bias must be [C_out] = [{}] for weight {}, got {}", weight.shape()[0], w,
               shape_str(bias.shape()));
  }
  KILN_CHECK(stride[0] >= 1 && stride[1] >= 1, "conv2d: stride must be positive, got [{}, {}]",
             stride[0], stride[1]);
  KILN_CHECK(dilation[0] >= 1 && dilation[1] >= 1,
             "conv2d: dilation must be positive, got [{}, {}]", dilation[0], dilation[1]);
  KILN_CHECK(padding[0] >= 0 && padding[1] >= 0,
             "conv2d: padding must be non-negative, got [{}, {}]", padding[0], padding[1]);
  KILN_CHECK(groups >= 1, "conv2d: groups must be positive, got {}", groups);

  cpu::Conv2dParams p;
  p.N = input.shape()[0], p.C_in = input.shape()[1], p.H = input.shape()[2], p.W = input.shape()[3];
  p.C_out = weight.shape()[0], p.KH = weight.shape()[2], p.KW = weight.shape()[3];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.groups = groups;
  KILN_CHECK(p.C_in % groups == 0,
             "conv2d: groups = {} does not divide the {} input channels (input {}, weight {})",
             groups, p.C_in, in, w);
  KILN_CHECK(p.C_out % groups == 0,
             "conv2d: groups = {} does not divide the {} output channels (input {}, weight {})",
             groups, p.C_out, in, w);
  KILN_CHECK(weight.shape()[1] * groups == p.C_in,
             "conv2d: input {} has {} channels but weight {} expects {} (C_in/groups = {} with "
             "groups = {})",
             in, p.C_in, w, weight.shape()[1] * groups, weight.shape()[1], groups);
  KILN_CHECK(p.KH >= 1 && p.KW >= 1, "conv2d: weight {} has an empty kernel", w);
  const std::int64_t kh = dilation[0] * (p.KH - 1) + 1, kw = dilation[1] * (p.KW - 1) + 1;
  const std::int64_t ph = p.H + 2 * p.pad_h, pw = p.W + 2 * p.pad_w;
  KILN_CHECK(kh <= ph && kw <= pw,
             "conv2d: kernel {}x{} (with dilation [{}, {}]) is larger than the padded input "
             "{}x{} (input {}, padding [{}, {}], weight {})",
             kh, kw, dilation[0], dilation[1], ph, pw, in, padding[0], padding[1], w);
  p.H_out = cpu::conv2d_output_size(p.H, p.KH, p.stride_h, p.pad_h, p.dilation_h);
  p.W_out = cpu::conv2d_output_size(p.W, p.KW, p.stride_w, p.pad_w, p.dilation_w);
  return p;
}

template <class T>
const T* cptr(const Tensor& t) {
  return static_cast<const T*>(t.raw_data());
}
template <class T>
T* mptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              std::array<std::int64_t, 2> stride, std::array<std::int64_t, 2> padding,
              std::array<std::int64_t, 2> dilation, std::int64_t groups) {
  KILN_CHECK(input.defined() && weight.defined(), "conv2d: undefined tensor argument");
  dispatch_floating(input.dtype(), "conv2d", [] <class T>() {});
  const cpu::Conv2dParams p =
      conv2d_params(input, weight, bias, stride, padding, dilation, groups);

  const Tensor x = input.detach().contiguous(), w = weight.detach().contiguous();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const Device device = input.device();
  Tensor out = Tensor::empty({p.N, p.C_out, p.H_out, p.W_out},
                             {.dtype = input.dtype(), .device = device});
  if (out.numel() > 0) {
    dispatch_floating(input.dtype(), "conv2d", [&]<class T>() {
      auto kernel = device.is_cpu() ? &cpu::conv2d_forward<T> : &cuda::conv2d_forward<T>;
      kernel(p, cptr<T>(x), cptr<T>(w), b.defined() ? cptr<T>(b) : nullptr, mptr<T>(out));
    });
  }

  // Heavy op: the backward is its own kernels, fed the contiguous detached inputs (each
  // saved only when a gradient needs it); it is differentiable once.
  const bool need_x = input.requires_grad(), need_w = weight.requires_grad();
  const bool need_b = bias.defined() && bias.requires_grad();
  return record("Conv2dBackward", out, {input, weight, bias},
                [p, dtype = input.dtype(), device, need_x, need_w, need_b,
                 x_saved = need_w ? x : Tensor(), w_saved = need_x ? w : Tensor()](const Tensor& g) {
                  KILN_CHECK(g.device() == device,
                             "conv2d_backward: the gradient is on {} but the input is on {}",
                             g.device(), device);
                  const Tensor gc = g.contiguous();
                  const Options o{.dtype = dtype, .device = device};
                  const bool on_cpu = device.is_cpu();
                  // The kernels overwrite their output; an empty grad_output means zeros.
                  const bool empty = gc.numel() == 0;
                  auto make = [&](const Shape& s) {
                    return empty ? Tensor::zeros(s, o) : Tensor::empty(s, o);
                  };
                  Tensor gx, gw, gb;
                  dispatch_floating(dtype, "conv2d_backward", [&]<class T>() {
                    if (need_x) {
                      gx = make({p.N, p.C_in, p.H, p.W});
                      auto kernel = on_cpu ? &cpu::conv2d_backward_input<T>
                                        : &cuda::conv2d_backward_input<T>;
                      if (!empty) kernel(p, cptr<T>(gc), cptr<T>(w_saved), mptr<T>(gx));
                    }
                    if (need_w) {
                      gw = make({p.C_out, p.C_in / p.groups, p.KH, p.KW});
                      auto kernel = on_cpu ? &cpu::conv2d_backward_weight<T>
                                        : &cuda::conv2d_backward_weight<T>;
                      if (!empty) kernel(p, cptr<T>(gc), cptr<T>(x_saved), mptr<T>(gw));
                    }
                    if (need_b) {
                      gb = Tensor::empty({p.C_out}, o);
                      auto kernel = on_cpu ? &cpu::conv2d_backward_bias<T>
                                        : &cuda::conv2d_backward_bias<T>;
                      kernel(p, cptr<T>(gc), mptr<T>(gb));
                    }
                  });
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace kiln
