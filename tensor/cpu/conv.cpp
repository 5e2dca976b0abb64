// CPU 2-D convolution (shapes in tensor/cpu/conv.h):
//   input (N, C_in, H, W), weight (C_out, C_in / groups, KH, KW), bias (C_out),
//   output (N, C_out, H_out, W_out).
//
// Note [Convolution as GEMM]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~
// For one image, unfold the input into a matrix `col` (im2col) with one row per weight
// position (ci, kh, kw) and one column per output pixel (oh, ow):
//
//   col[(ci·KH + kh)·KW + kw, oh·W_out + ow] = in[ci, oh·s_h - p_h + kh·d_h, ow·s_w - p_w + kw·d_w]
//
// (0 outside the input). A weight row, flattened, lists the same (ci, kh, kw) in the same
// order, so with K = C_in/groups · KH · KW and group g owning K rows of col and
// C_out/groups rows of the weight and of the output:
//
//   forward          out_g  (C_out/g x HWo) = W_g (C_out/g x K) @ col_g (K x HWo)
//   backward input   dcol_g (K x HWo)       = W_gᵀ @ dout_g, then col2im: every entry of
//                    dcol is added back to the input pixel im2col read it from (col2im is
//                    the adjoint of im2col; a pixel read by several windows gets the sum)
//   backward weight  dW_g   (C_out/g x K)   = Σ_images dout_g @ col_gᵀ
//
// so the whole convolution is one GEMM per image and group (tensor/cpu/gemm.h). A 1x1
// convolution with stride 1 and no padding needs no unfolding at all: col is the input
// itself, (C_in x H·W).
//
// Cache tiles: col is KH·KW times larger than the image (a 96-channel 32x32 image with a
// 3x3 kernel unfolds into 3.4 MiB), so writing it whole and then multiplying would send
// it through L3 twice. Instead the output rows are cut into tiles whose col (about
// kColTileBytes) stays in L2 between im2col writing it and the GEMM packing it; the GEMM
// of one tile writes the matching columns of the output (ldc = H_out·W_out).
//
// Note [Threads in conv]
// ~~~~~~~~~~~~~~~~~~~~~~
// The GEMMs of a convolution are small (C_out = 32 rows, a few hundred columns), too
// small to split well across threads. So when the batch shares evenly, the images are
// split across the OpenMP threads instead: each thread unfolds its own images into its
// own col buffer and calls gemm, which runs single-threaded inside a parallel region
// (gemm.cpp checks omp_in_parallel()). When the batch is too small to share (sampling a
// single image), images go one at a time and gemm uses the threads. Images never write
// the same output, so forward and input gradient do not depend on the thread count. The
// weight gradient sums over images: the batch is cut into a fixed number of chunks (a
// function of N only), each chunk sums its images in order into its own buffer, and the
// chunk buffers are added in order at the end, so it does not depend on the thread
// count either.
#include "tensor/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "tensor/cpu/gemm.h"

namespace kiln::cpu {
namespace {

// The col tile of one GEMM: about half of a 2 MiB L2, leaving room for the packed
// weight block and the output tile.
constexpr std::size_t kColTileBytes = 768 * 1024;
// The weight gradient is summed in at most this many chunks of the batch.
constexpr std::int64_t kWeightChunks = 8;

// A grow-only scratch buffer aligned to a cache line, one per thread and slot, kept
// between calls so that steady-state training allocates (and page-faults) nothing.
enum class Slot { Col, Partial };

template <class T, Slot S>
T* scratch(std::size_t count) {
  struct Buffer {
    struct Free {
      void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
    };
    std::unique_ptr<T, Free> data;
    std::size_t capacity = 0;
  };
  thread_local Buffer buffer;
  if (buffer.capacity < count) {
    buffer.data.reset(static_cast<T*>(::operator new[](count * sizeof(T), std::align_val_t(64))));
    buffer.capacity = count;
  }
  return buffer.data.get();
}

// Note [Threads in conv]: split `items` across the threads only when they share evenly
// (or there are so many that the remainder hardly matters).
bool split_across_threads(std::int64_t items) {
  if (omp_in_parallel()) return false;
  const int threads = omp_get_max_threads();
  return threads > 1 && items >= threads && (items % threads == 0 || items >= 4 * threads);
}

template <class Fn>
void for_each_item(std::int64_t items, Fn&& fn) {
  if (split_across_threads(items)) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < items; ++i) fn(i);
  } else {
    for (std::int64_t i = 0; i < items; ++i) fn(i);
  }
}

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
         p.pad_w == 0;
}

// Output rows per col tile (Note [Convolution as GEMM]).
template <class T>
std::int64_t tile_rows(const Conv2dParams& p) {
  const std::int64_t row_bytes =
      p.C_in * p.KH * p.KW * p.W_out * static_cast<std::int64_t>(sizeof(T));
  const std::int64_t rows = static_cast<std::int64_t>(kColTileBytes) / std::max<std::int64_t>(row_bytes, 1);
  return std::clamp<std::int64_t>(rows, 1, std::max<std::int64_t>(p.H_out, 1));
}

// The output columns ow whose input column ow·s_w + off lies in [0, W): [lo, hi).
struct ValidRange {
  std::int64_t lo, hi;
};
ValidRange valid_range(std::int64_t off, std::int64_t stride, std::int64_t in,
                       std::int64_t out) {
  std::int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  std::int64_t hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
  return {lo, hi};
}

// col (C_in·KH·KW, (oh1 - oh0)·W_out) = the columns of output rows [oh0, oh1) of one
// image x (C_in, H, W).
template <class T>
void im2col(const Conv2dParams& p, const T* x, std::int64_t oh0, std::int64_t oh1, T* col) {
  const std::int64_t ncols = (oh1 - oh0) * p.W_out;
  for (std::int64_t c = 0; c < p.C_in; ++c) {
    const T* xc = x + c * p.H * p.W;
    for (std::int64_t kh = 0; kh < p.KH; ++kh) {
      for (std::int64_t kw = 0; kw < p.KW; ++kw) {
        T* dst = col + ((c * p.KH + kh) * p.KW + kw) * ncols;
        const std::int64_t off_w = kw * p.dilation_w - p.pad_w;  // iw = ow·s_w + off_w
        const auto [lo, hi] = valid_range(off_w, p.stride_w, p.W, p.W_out);
        for (std::int64_t oh = oh0; oh < oh1; ++oh, dst += p.W_out) {
          const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (ih < 0 || ih >= p.H) {
            std::fill(dst, dst + p.W_out, T(0));
            continue;
          }
          const T* row = xc + ih * p.W;
          std::fill(dst, dst + lo, T(0));
          if (p.stride_w == 1) {
            std::memcpy(dst + lo, row + lo + off_w, static_cast<std::size_t>(hi - lo) * sizeof(T));
          } else {
            for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow] = row[ow * p.stride_w + off_w];
          }
          std::fill(dst + hi, dst + p.W_out, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col: gx (C_in, H, W) += every entry of col (C_in·KH·KW,
// (oh1 - oh0)·W_out) at the input pixel im2col read it from.
template <class T>
void col2im(const Conv2dParams& p, const T* col, std::int64_t oh0, std::int64_t oh1, T* gx) {
  const std::int64_t ncols = (oh1 - oh0) * p.W_out;
  for (std::int64_t c = 0; c < p.C_in; ++c) {
    T* gc = gx + c * p.H * p.W;
    for (std::int64_t kh = 0; kh < p.KH; ++kh) {
      for (std::int64_t kw = 0; kw < p.KW; ++kw) {
        const T* src = col + ((c * p.KH + kh) * p.KW + kw) * ncols;
        const std::int64_t off_w = kw * p.dilation_w - p.pad_w;
        const auto [lo, hi] = valid_range(off_w, p.stride_w, p.W, p.W_out);
        for (std::int64_t oh = oh0; oh < oh1; ++oh, src += p.W_out) {
          const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
          if (ih < 0 || ih >= p.H) continue;
          T* row = gc + ih * p.W;
          if (p.stride_w == 1) {
            T* r = row + off_w;
            for (std::int64_t ow = lo; ow < hi; ++ow) r[ow] += src[ow];
          } else {
            for (std::int64_t ow = lo; ow < hi; ++ow) row[ow * p.stride_w + off_w] += src[ow];
          }
        }
      }
    }
  }
}

// Σ of n values, in 16 interleaved partial sums the compiler can keep in vector
// registers (a single running sum would be both slow and less accurate).
template <class T>
T lane_sum(const T* x, std::int64_t n) {
  constexpr int kLanes = 16;
  T acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  }
  T total = 0;
  for (int j = 0; j < kLanes; ++j) total += acc[j];
  for (; i < n; ++i) total += x[i];
  return total;
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output) {
  const std::int64_t hw_out = p.H_out * p.W_out;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const bool pointwise = is_pointwise(p);
  const std::int64_t rows_per_tile = tile_rows<T>(p);

  for_each_item(p.N, [&](std::int64_t n) {
    const T* x = input + n * p.C_in * p.H * p.W;
    T* y = output + n * p.C_out * hw_out;
    if (bias != nullptr) {
      for (std::int64_t co = 0; co < p.C_out; ++co)
        std::fill(y + co * hw_out, y + (co + 1) * hw_out, bias[co]);
    }
    const T beta = bias != nullptr ? T(1) : T(0);
    if (pointwise) {  // col is the image itself
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(false, false, cout_g, hw_out, K, T(1), weight + g * cout_g * K, K,
                x + g * K * hw_out, hw_out, beta, y + g * cout_g * hw_out, hw_out);
      }
      return;
    }
    T* col = scratch<T, Slot::Col>(static_cast<std::size_t>(p.groups * K * rows_per_tile * p.W_out));
    for (std::int64_t oh0 = 0; oh0 < p.H_out; oh0 += rows_per_tile) {
      const std::int64_t oh1 = std::min(p.H_out, oh0 + rows_per_tile);
      const std::int64_t ncols = (oh1 - oh0) * p.W_out;
      im2col(p, x, oh0, oh1, col);
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(false, false, cout_g, ncols, K, T(1), weight + g * cout_g * K, K,
                col + g * K * ncols, ncols, beta, y + g * cout_g * hw_out + oh0 * p.W_out,
                hw_out);
      }
    }
  });
}

template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input) {
  const std::int64_t hw_in = p.H * p.W, hw_out = p.H_out * p.W_out;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const bool pointwise = is_pointwise(p);
  const std::int64_t rows_per_tile = tile_rows<T>(p);

  for_each_item(p.N, [&](std::int64_t n) {
    const T* gy = grad_output + n * p.C_out * hw_out;
    T* gx = grad_input + n * p.C_in * hw_in;
    if (pointwise) {  // dx_g = W_gᵀ @ dy_g directly
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(true, false, K, hw_out, cout_g, T(1), weight + g * cout_g * K, K,
                gy + g * cout_g * hw_out, hw_out, T(0), gx + g * K * hw_out, hw_out);
      }
      return;
    }
    std::fill(gx, gx + p.C_in * hw_in, T(0));
    T* col = scratch<T, Slot::Col>(static_cast<std::size_t>(p.groups * K * rows_per_tile * p.W_out));
    for (std::int64_t oh0 = 0; oh0 < p.H_out; oh0 += rows_per_tile) {
      const std::int64_t oh1 = std::min(p.H_out, oh0 + rows_per_tile);
      const std::int64_t ncols = (oh1 - oh0) * p.W_out;
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(true, false, K, ncols, cout_g, T(1), weight + g * cout_g * K, K,
                gy + g * cout_g * hw_out + oh0 * p.W_out, hw_out, T(0), col + g * K * ncols,
                ncols);
      }
      col2im(p, col, oh0, oh1, gx);
    }
  });
}

template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight) {
  const std::int64_t hw_out = p.H_out * p.W_out;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const std::int64_t wsize = p.C_out * K;
  const bool pointwise = is_pointwise(p);
  const std::int64_t rows_per_tile = tile_rows<T>(p);
  if (p.N == 0) {
    std::fill(grad_weight, grad_weight + wsize, T(0));
    return;
  }

  // Note [Threads in conv]: chunk c sums images [N·c/chunks, N·(c+1)/chunks) into its
  // own buffer (chunk 0 straight into grad_weight).
  const std::int64_t chunks = std::min(p.N, kWeightChunks);
  T* partial = chunks > 1 ? scratch<T, Slot::Partial>(static_cast<std::size_t>((chunks - 1) * wsize))
                          : nullptr;

  for_each_item(chunks, [&](std::int64_t c) {
    T* acc = c == 0 ? grad_weight : partial + (c - 1) * wsize;
    const std::int64_t n0 = p.N * c / chunks, n1 = p.N * (c + 1) / chunks;
    bool first = true;  // the first GEMM of a chunk overwrites acc
    for (std::int64_t n = n0; n < n1; ++n) {
      const T* x = input + n * p.C_in * p.H * p.W;
      const T* gy = grad_output + n * p.C_out * hw_out;
      if (pointwise) {
        for (std::int64_t g = 0; g < p.groups; ++g) {
          gemm<T>(false, true, cout_g, K, hw_out, T(1), gy + g * cout_g * hw_out, hw_out,
                  x + g * K * hw_out, hw_out, first ? T(0) : T(1), acc + g * cout_g * K, K);
        }
        first = false;
        continue;
      }
      T* col = scratch<T, Slot::Col>(static_cast<std::size_t>(p.groups * K * rows_per_tile * p.W_out));
      for (std::int64_t oh0 = 0; oh0 < p.H_out; oh0 += rows_per_tile) {
        const std::int64_t oh1 = std::min(p.H_out, oh0 + rows_per_tile);
        const std::int64_t ncols = (oh1 - oh0) * p.W_out;
        im2col(p, x, oh0, oh1, col);
        for (std::int64_t g = 0; g < p.groups; ++g) {
          gemm<T>(false, true, cout_g, K, ncols, T(1), gy + g * cout_g * hw_out + oh0 * p.W_out,
                  hw_out, col + g * K * ncols, ncols, first ? T(0) : T(1), acc + g * cout_g * K,
                  K);
        }
        first = false;
      }
    }
    if (first) std::fill(acc, acc + wsize, T(0));  // an empty chunk (H_out·W_out == 0)
  });

  // Add the chunk sums in order.
  for (std::int64_t c = 1; c < chunks; ++c) {
    const T* src = partial + (c - 1) * wsize;
    for (std::int64_t i = 0; i < wsize; ++i) grad_weight[i] += src[i];
  }
}

template <class T>
void conv2d_backward_bias(const Conv2dParams& p, const T* grad_output, T* grad_bias) {
  const std::int64_t hw_out = p.H_out * p.W_out;
  const bool parallel = !omp_in_parallel() && p.N * p.C_out * hw_out >= (1 << 15);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t co = 0; co < p.C_out; ++co) {
    double total = 0;  // the plane sums are added in double, in the order of n
    for (std::int64_t n = 0; n < p.N; ++n)
      total += static_cast<double>(lane_sum(grad_output + (n * p.C_out + co) * hw_out, hw_out));
    grad_bias[co] = static_cast<T>(total);
  }
}

#define KILN_INSTANTIATE_CONV(T)                                                          \
  template void conv2d_forward<T>(const Conv2dParams&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_input<T>(const Conv2dParams&, const T*, const T*, T*);    \
  template void conv2d_backward_weight<T>(const Conv2dParams&, const T*, const T*, T*);   \
  template void conv2d_backward_bias<T>(const Conv2dParams&, const T*, T*);
KILN_INSTANTIATE_CONV(float)
KILN_INSTANTIATE_CONV(double)
#undef KILN_INSTANTIATE_CONV

}  // namespace kiln::cpu
