// CUDA 2-D convolution (shapes and contracts in cuda/conv.h and tensor/cpu/conv.h).
//
// Note [Convolution on the GPU]
// The same algebra as the CPU (Note [Convolution as GEMM] in tensor/cpu/conv.cpp):
// unfold the input into col, one row per weight position (ci, kh, kw) and one column per
// output pixel, and the convolution is a GEMM per group, done by cuBLAS
// (cuda/gemm.h; TF32 when allowed). The images are processed in chunks whose col fits in
// the workspace limit (set_conv_workspace_limit), and the GEMMs of a chunk are one strided-batched cuBLAS call:
//
//   forward          out[n]_g (C_out/g x HWo)  = W_g (C_out/g x K) · col[n]_g (K x HWo)
//                    (W shared: batch stride 0), then + bias
//   backward input   col[n]_g (K x HWo)        = W_gᵀ · dout[n]_g, then col2im: every
//                    input pixel gathers the col entries read from it (one thread per
//                    pixel, no atomics, deterministic)
//   backward weight  dW_g (C_out/g x K)       += dout_g (C_out/g x nHWo) · col_gᵀ
//                    where the chunk's col and dout are laid out with the images side
//                    by side (rows of n·HWo), so the sum over the images is the GEMM's
//                    own k loop: one GEMM per chunk and group instead of one per image.
//   backward bias    one block per channel sums dout over the images and pixels.
//
// A 1x1 convolution with stride 1 and no padding needs no unfolding for the forward and
// the input gradient: col[n] is the input image itself (C_in x HW).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "cuda/conv.h"
#include "cuda/gemm.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::Acc;
using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// A chunk's col buffer stays below this many bytes (set_conv_workspace_limit).
std::atomic<std::int64_t> g_col_bytes{std::int64_t(256) << 20};

// The col geometry of a chunk: element (image i, row r, pixel q) of col is at
//   i · image_stride + r · row_stride + q.
// Images one after the other: image_stride = K_all · HWo, row_stride = HWo.
// Images side by side:        image_stride = HWo,         row_stride = images · HWo.
struct ColLayout {
  std::int64_t image_stride, row_stride;
};

// ---- kernels --------------------------------------------------------------------------

// The geometry of a convolution in the index type I: int32_t when every index of a
// chunk fits (the usual case: 32-bit division is several times faster on the GPU than
// 64-bit, and im2col and col2im divide for every element), int64_t otherwise.
template <class I>
struct Geometry {
  I C_in, H, W, KH, KW, H_out, W_out, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  I image_stride, row_stride;  // the col layout

  static Geometry make(const Conv2dParams& p, ColLayout l) {
    return {I(p.C_in),     I(p.H),        I(p.W),          I(p.KH),         I(p.KW),
            I(p.H_out),    I(p.W_out),    I(p.stride_h),   I(p.stride_w),   I(p.pad_h),
            I(p.pad_w),    I(p.dilation_h), I(p.dilation_w), I(l.image_stride), I(l.row_stride)};
  }
};

// im2col for `images` images starting at `input`.
//   input (images, C_in, H, W) -> col (images, C_in·KH·KW, H_out·W_out) in layout `g`
template <class T, class I>
__global__ void im2col_kernel(Geometry<I> g, const T* input, I images, T* col) {
  const I hwo = g.H_out * g.W_out, rows = g.C_in * g.KH * g.KW;
  const I total = images * rows * hwo;
  for (I t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
    const I q = t % hwo, r = (t / hwo) % rows, i = t / (hwo * rows);
    const I kw = r % g.KW, kh = (r / g.KW) % g.KH, ci = r / (g.KW * g.KH);
    const I ow = q % g.W_out, oh = q / g.W_out;
    const I ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
    const I iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
    const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
    col[i * g.image_stride + r * g.row_stride + q] =
        inside ? input[((i * g.C_in + ci) * g.H + ih) * g.W + iw] : T(0);
  }
}

// col2im, the adjoint of im2col: each input pixel sums the col entries that read it.
//   col (images, C_in·KH·KW, H_out·W_out) in layout `g` -> grad_input (images, C_in, H, W)
template <class T, class I>
__global__ void col2im_kernel(Geometry<I> g, const T* col, I images, T* grad_input) {
  const I total = images * g.C_in * g.H * g.W;
  for (I t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
    const I w = t % g.W, h = (t / g.W) % g.H, c = (t / (g.W * g.H)) % g.C_in;
    const I i = t / (g.W * g.H * g.C_in);
    Acc<T> sum = 0;
    for (I kh = 0; kh < g.KH; ++kh) {
      const I hn = h + g.pad_h - kh * g.dil_h;
      if (hn < 0 || hn % g.stride_h != 0) continue;
      const I oh = hn / g.stride_h;
      if (oh >= g.H_out) continue;
      for (I kw = 0; kw < g.KW; ++kw) {
        const I wn = w + g.pad_w - kw * g.dil_w;
        if (wn < 0 || wn % g.stride_w != 0) continue;
        const I ow = wn / g.stride_w;
        if (ow >= g.W_out) continue;
        const I r = (c * g.KH + kh) * g.KW + kw;
        sum += col[i * g.image_stride + r * g.row_stride + oh * g.W_out + ow];
      }
    }
    grad_input[t] = static_cast<T>(sum);
  }
}

// out[n, c, q] += bias[c].
//   out (N, C_out, HWo), bias (C_out)
template <class T>
__global__ void add_bias_kernel(T* out, const T* bias, std::int64_t total, std::int64_t C,
                                std::int64_t hwo) {
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x)
    out[t] += bias[(t / hwo) % C];
}

// Images side by side: dst[c, i, q] = src[i, c, q] for the chunk's images.
//   src (images, C, HWo) -> dst (C, images · HWo)
template <class T>
__global__ void channels_first_kernel(const T* src, T* dst, std::int64_t images, std::int64_t C,
                                      std::int64_t hwo) {
  const std::int64_t total = images * C * hwo;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t q = t % hwo, i = (t / hwo) % images, c = t / (hwo * images);
    dst[t] = src[(i * C + c) * hwo + q];
  }
}

// grad_bias[c] = Σ_{n, q} grad_output[n, c, q]: one block per channel.
//   grad_output (N, C_out, HWo), grad_bias (C_out)
template <class T>
__global__ void bias_backward_kernel(const T* grad_output, T* grad_bias, std::int64_t N,
                                     std::int64_t C, std::int64_t hwo) {
  __shared__ Acc<T> shared[32];
  for (std::int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    Acc<T> sum = 0;
    for (std::int64_t t = threadIdx.x; t < N * hwo; t += blockDim.x) {
      const std::int64_t n = t / hwo, q = t % hwo;
      sum += grad_output[(n * C + c) * hwo + q];
    }
    sum = detail::block_sum(sum, shared);
    if (threadIdx.x == 0) grad_bias[c] = static_cast<T>(sum);
  }
}

// ---- launchers ------------------------------------------------------------------------

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
         p.pad_w == 0;
}

std::int64_t col_rows(const Conv2dParams& p) { return p.C_in * p.KH * p.KW; }
std::int64_t hw_out(const Conv2dParams& p) { return p.H_out * p.W_out; }

// Images per chunk, so that a chunk's col stays below the workspace limit (at least one image).
template <class T>
std::int64_t chunk_images(const Conv2dParams& p) {
  const std::int64_t per_image = col_rows(p) * hw_out(p) * static_cast<std::int64_t>(sizeof(T));
  return std::clamp<std::int64_t>(g_col_bytes.load() / std::max<std::int64_t>(per_image, 1), 1,
                                  std::max<std::int64_t>(p.N, 1));
}

void check_params(const Conv2dParams& p, const char* op) {
  KILN_CHECK(p.N >= 0 && p.C_in > 0 && p.C_out > 0 && p.groups > 0 && p.C_in % p.groups == 0 &&
                 p.C_out % p.groups == 0 && p.KH > 0 && p.KW > 0 && p.H_out > 0 && p.W_out > 0,
             "{}: invalid geometry (N {}, C_in {}, C_out {}, groups {}, kernel {}x{}, output "
             "{}x{})",
             op, p.N, p.C_in, p.C_out, p.groups, p.KH, p.KW, p.H_out, p.W_out);
}

// Whether a chunk of `images` images indexes in 32 bits: its col, its input and every
// intermediate of the kernels' index arithmetic stay below 2^30 (the grid-stride loop
// adds up to 2^24 past the last index, which must not overflow either).
bool fits_32bit(const Conv2dParams& p, std::int64_t images) {
  constexpr std::int64_t kMax = std::int64_t(1) << 30;
  const std::int64_t col = images * col_rows(p) * hw_out(p);
  const std::int64_t in = images * p.C_in * std::max(p.H, p.H_out + 1) * std::max(p.W, p.W_out + 1);
  return col < kMax && in < kMax;
}

template <class T>
void im2col(const Conv2dParams& p, const T* input, std::int64_t images, ColLayout l, T* col) {
  const unsigned blocks = blocks_for(images * col_rows(p) * hw_out(p));
  if (fits_32bit(p, images)) {
    im2col_kernel<<<blocks, kThreads, 0, stream()>>>(Geometry<std::int32_t>::make(p, l), input,
                                                     static_cast<std::int32_t>(images), col);
  } else {
    im2col_kernel<<<blocks, kThreads, 0, stream()>>>(Geometry<std::int64_t>::make(p, l), input,
                                                     images, col);
  }
  KILN_CUDA_CHECK_LAUNCH("conv2d (im2col)");
}

template <class T>
void col2im(const Conv2dParams& p, const T* col, std::int64_t images, ColLayout l, T* grad_input) {
  const unsigned blocks = blocks_for(images * p.C_in * p.H * p.W);
  if (fits_32bit(p, images)) {
    col2im_kernel<<<blocks, kThreads, 0, stream()>>>(Geometry<std::int32_t>::make(p, l), col,
                                                     static_cast<std::int32_t>(images), grad_input);
  } else {
    col2im_kernel<<<blocks, kThreads, 0, stream()>>>(Geometry<std::int64_t>::make(p, l), col,
                                                     images, grad_input);
  }
  KILN_CUDA_CHECK_LAUNCH("conv2d_backward_input (col2im)");
}

// The sizes every launcher works with: per group, K = C_in/g·KH·KW rows of col and
// co_g = C_out/g output channels; hwo output pixels and hw input pixels per image; the
// images of a chunk.
struct Plan {
  std::int64_t G, K, co_g, hwo, hw, chunk;
  bool pointwise;

  template <class T>
  static Plan make(const Conv2dParams& p) {
    return {p.groups,       col_rows(p) / p.groups, p.C_out / p.groups, hw_out(p),
            p.H * p.W,      chunk_images<T>(p),    is_pointwise(p)};
  }
  // Bytes of the col buffer of one chunk (none when unfolding is not needed).
  template <class T>
  std::size_t col_bytes(const Conv2dParams& p, bool unfold) const {
    return unfold ? static_cast<std::size_t>(chunk * col_rows(p) * hwo) * sizeof(T) : 0;
  }
};

}  // namespace

void set_conv_workspace_limit(std::size_t bytes) {
  g_col_bytes.store(static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1)));
}
std::size_t conv_workspace_limit() { return static_cast<std::size_t>(g_col_bytes.load()); }

// [region conv2d_forward]
template <class T>
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output) {
  check_params(p, "conv2d_forward");
  if (p.N == 0) return;
  const Plan plan = Plan::make<T>(p);
  const auto [G, K, co_g, hwo, hw, chunk, pointwise] = plan;
  detail::Scratch col(plan.col_bytes<T>(p, !pointwise));
  for (std::int64_t n0 = 0; n0 < p.N; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, p.N - n0);
    const T* b = input + n0 * p.C_in * hw;  // col of a pointwise conv: the input itself
    std::int64_t stride_b = p.C_in * hw;
    if (!pointwise) {
      im2col(p, b, nb, ColLayout{col_rows(p) * hwo, hwo}, col.as<T>());
      b = col.as<T>();
      stride_b = col_rows(p) * hwo;
    }
    for (std::int64_t g = 0; g < G; ++g) {
      gemm_strided_batched<T>(false, false, co_g, hwo, K, T(1), weight + g * co_g * K, K, 0,
                              b + g * K * hwo, hwo, stride_b, T(0),
                              output + (n0 * p.C_out + g * co_g) * hwo, hwo, p.C_out * hwo, nb);
    }
  }
  if (bias != nullptr) {
    const std::int64_t total = p.N * p.C_out * hwo;
    add_bias_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(output, bias, total, p.C_out,
                                                                  hwo);
    KILN_CUDA_CHECK_LAUNCH("conv2d (bias)");
  }
}
// [endregion]

template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input) {
  check_params(p, "conv2d_backward_input");
  if (p.N == 0) return;
  const Plan plan = Plan::make<T>(p);
  const auto [G, K, co_g, hwo, hw, chunk, pointwise] = plan;
  detail::Scratch col(plan.col_bytes<T>(p, !pointwise));
  for (std::int64_t n0 = 0; n0 < p.N; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, p.N - n0);
    // dcol[n]_g = W_gᵀ · dout[n]_g, written straight into grad_input when pointwise.
    T* c = pointwise ? grad_input + n0 * p.C_in * hw : col.as<T>();
    const std::int64_t stride_c = pointwise ? p.C_in * hw : col_rows(p) * hwo;
    for (std::int64_t g = 0; g < G; ++g) {
      gemm_strided_batched<T>(true, false, K, hwo, co_g, T(1), weight + g * co_g * K, K, 0,
                              grad_output + (n0 * p.C_out + g * co_g) * hwo, hwo, p.C_out * hwo,
                              T(0), c + g * K * hwo, hwo, stride_c, nb);
    }
    if (!pointwise)
      col2im(p, col.as<T>(), nb, ColLayout{col_rows(p) * hwo, hwo}, grad_input + n0 * p.C_in * hw);
  }
}

template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight) {
  check_params(p, "conv2d_backward_weight");
  const Plan plan = Plan::make<T>(p);
  const auto [G, K, co_g, hwo, hw, chunk, pointwise] = plan;
  if (p.N == 0) {
    KILN_CUDA_CHECK(cudaMemsetAsync(grad_weight, 0, p.C_out * K * sizeof(T), stream()));
    return;
  }
  detail::Scratch col(plan.col_bytes<T>(p, true));  // a 1x1 conv is unfolded here too
  detail::Scratch dout(static_cast<std::size_t>(chunk * p.C_out * hwo) * sizeof(T));
  for (std::int64_t n0 = 0; n0 < p.N; n0 += chunk) {
    const std::int64_t nb = std::min(chunk, p.N - n0);
    const std::int64_t width = nb * hwo;  // the images side by side
    im2col(p, input + n0 * p.C_in * hw, nb, ColLayout{hwo, width}, col.as<T>());
    channels_first_kernel<<<blocks_for(nb * p.C_out * hwo), kThreads, 0, stream()>>>(
        grad_output + n0 * p.C_out * hwo, dout.as<T>(), nb, p.C_out, hwo);
    KILN_CUDA_CHECK_LAUNCH("conv2d_backward_weight (layout)");
    // dW_g (C_out/g x K) (+)= dout_g (C_out/g x width) · col_gᵀ (width x K)
    for (std::int64_t g = 0; g < G; ++g) {
      gemm<T>(false, true, co_g, K, width, T(1), dout.as<T>() + g * co_g * width, width,
              col.as<T>() + g * K * width, width, n0 == 0 ? T(0) : T(1),
              grad_weight + g * co_g * K, K);
    }
  }
}

template <class T>
void conv2d_backward_bias(const Conv2dParams& p, const T* grad_output, T* grad_bias) {
  check_params(p, "conv2d_backward_bias");
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(p.C_out, 65535));
  bias_backward_kernel<<<blocks, kThreads, 0, stream()>>>(grad_output, grad_bias, p.N, p.C_out,
                                                         hw_out(p));
  KILN_CUDA_CHECK_LAUNCH("conv2d_backward_bias");
}

#define KILN_INSTANTIATE(T)                                                                    \
  template void conv2d_forward<T>(const Conv2dParams&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_input<T>(const Conv2dParams&, const T*, const T*, T*);         \
  template void conv2d_backward_weight<T>(const Conv2dParams&, const T*, const T*, T*);        \
  template void conv2d_backward_bias<T>(const Conv2dParams&, const T*, T*);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
