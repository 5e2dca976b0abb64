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

// im2col for `images` images starting at `input`.
//   input (images, C_in, H, W) -> col (images, C_in·KH·KW, H_out·W_out) in layout `l`
template <class T>
__global__ void im2col_kernel(Conv2dParams p, const T* input, std::int64_t images, ColLayout l,
                              T* col) {
  const std::int64_t hwo = p.H_out * p.W_out, rows = p.C_in * p.KH * p.KW;
  const std::int64_t total = images * rows * hwo;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t q = t % hwo, r = (t / hwo) % rows, i = t / (hwo * rows);
    const std::int64_t kw = r % p.KW, kh = (r / p.KW) % p.KH, ci = r / (p.KW * p.KH);
    const std::int64_t ow = q % p.W_out, oh = q / p.W_out;
    const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
    const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
    const bool inside = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
    col[i * l.image_stride + r * l.row_stride + q] =
        inside ? input[((i * p.C_in + ci) * p.H + ih) * p.W + iw] : T(0);
  }
}

// col2im, the adjoint of im2col: each input pixel sums the col entries that read it.
//   col (images, C_in·KH·KW, H_out·W_out) in layout `l` -> grad_input (images, C_in, H, W)
template <class T>
__global__ void col2im_kernel(Conv2dParams p, const T* col, std::int64_t images, ColLayout l,
                              T* grad_input) {
  const std::int64_t total = images * p.C_in * p.H * p.W;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t w = t % p.W, h = (t / p.W) % p.H, c = (t / (p.W * p.H)) % p.C_in;
    const std::int64_t i = t / (p.W * p.H * p.C_in);
    Acc<T> sum = 0;
    for (std::int64_t kh = 0; kh < p.KH; ++kh) {
      const std::int64_t hn = h + p.pad_h - kh * p.dilation_h;
      if (hn < 0 || hn % p.stride_h != 0) continue;
      const std::int64_t oh = hn / p.stride_h;
      if (oh >= p.H_out) continue;
      for (std::int64_t kw = 0; kw < p.KW; ++kw) {
        const std::int64_t wn = w + p.pad_w - kw * p.dilation_w;
        if (wn < 0 || wn % p.stride_w != 0) continue;
        const std::int64_t ow = wn / p.stride_w;
        if (ow >= p.W_out) continue;
        const std::int64_t r = (c * p.KH + kh) * p.KW + kw;
        sum += col[i * l.image_stride + r * l.row_stride + oh * p.W_out + ow];
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

template <class T>
void im2col(const Conv2dParams& p, const T* input, std::int64_t images, ColLayout l, T* col) {
  im2col_kernel<<<blocks_for(images * col_rows(p) * hw_out(p)), kThreads, 0, stream()>>>(
      p, input, images, l, col);
  KILN_CUDA_CHECK_LAUNCH("conv2d (im2col)");
}

}  // namespace

void set_conv_workspace_limit(std::size_t bytes) {
  g_col_bytes.store(static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1)));
}
std::size_t conv_workspace_limit() { return static_cast<std::size_t>(g_col_bytes.load()); }

template <class T>
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output) {
  check_params(p, "conv2d_forward");
  if (p.N == 0) return;
  const std::int64_t G = p.groups, hwo = hw_out(p), K = col_rows(p) / G;
  const std::int64_t co_g = p.C_out / G, hw = p.H * p.W;
  const bool pointwise = is_pointwise(p);
  const std::int64_t chunk = chunk_images<T>(p);
  detail::Scratch col(pointwise ? 0 : static_cast<std::size_t>(chunk * col_rows(p) * hwo) * sizeof(T));
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

template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input) {
  check_params(p, "conv2d_backward_input");
  if (p.N == 0) return;
  const std::int64_t G = p.groups, hwo = hw_out(p), K = col_rows(p) / G;
  const std::int64_t co_g = p.C_out / G, hw = p.H * p.W;
  const bool pointwise = is_pointwise(p);
  const std::int64_t chunk = chunk_images<T>(p);
  detail::Scratch col(pointwise ? 0 : static_cast<std::size_t>(chunk * col_rows(p) * hwo) * sizeof(T));
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
    if (!pointwise) {
      col2im_kernel<<<blocks_for(nb * p.C_in * hw), kThreads, 0, stream()>>>(
          p, col.as<T>(), nb, ColLayout{col_rows(p) * hwo, hwo}, grad_input + n0 * p.C_in * hw);
      KILN_CUDA_CHECK_LAUNCH("conv2d_backward_input (col2im)");
    }
  }
}

template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight) {
  check_params(p, "conv2d_backward_weight");
  const std::int64_t G = p.groups, hwo = hw_out(p), K = col_rows(p) / G;
  const std::int64_t co_g = p.C_out / G, hw = p.H * p.W;
  if (p.N == 0) {
    KILN_CUDA_CHECK(cudaMemsetAsync(grad_weight, 0, p.C_out * K * sizeof(T), stream()));
    return;
  }
  const std::int64_t chunk = chunk_images<T>(p);
  detail::Scratch col(static_cast<std::size_t>(chunk * col_rows(p) * hwo) * sizeof(T));
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
