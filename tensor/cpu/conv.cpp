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
//   backward weight  dW_gᵀ  (K x C_out/g)   = Σ_images col_g @ dout_gᵀ
//
// so the whole convolution is a few GEMMs (tensor/cpu/gemm.h). The weight gradient is
// summed transposed: GEMM packs the large operand, col, much faster as a plain A than as
// a transposed B, which makes it about twice as fast; one small transpose at the end puts
// dW back in (C_out, C_in/g, KH, KW) order. A 1x1 convolution with stride 1 and no
// padding needs no unfolding: col is the input itself, (C_in x H·W).
//
// Note [Conv tiles]
// ~~~~~~~~~~~~~~~~~
// The columns of col are cut into tiles of about kColTileBytes, so that a tile stays in
// L2 between im2col writing it and the GEMM packing it (a 96-channel 32x32 image with a
// 3x3 kernel unfolds into 3.4 MiB: written whole, it would go through L3 twice):
//   - a large image is cut into bands of output rows; the GEMM of a band writes the
//     matching columns of the output directly (ldc = H_out·W_out);
//   - small images (8x8, 16x16 in a U-Net) are grouped, several whole images side by
//     side in one col, because a GEMM with only 64 columns runs at half speed. The
//     output (or output gradient) of such a tile is then a (C_out x images·HWo) matrix
//     that is copied to (or gathered from) the images' own (C_out, HWo) blocks.
// A GEMM computes each output element as the same dot product whatever else is in its
// tile, so the tiling changes nothing in the forward and input gradient; in the weight
// gradient it sets the summation order, so there it depends only on N (see below).
//
// Note [Threads in conv]
// ~~~~~~~~~~~~~~~~~~~~~~
// The GEMMs of a convolution are small (C_out = 32 rows, a few hundred columns), too
// small to split well across threads. So when the batch shares evenly, the images are
// split across the OpenMP threads instead: each thread unfolds its own images into its
// own col buffer and calls gemm, which runs single-threaded inside a parallel region
// (gemm.cpp checks omp_in_parallel()). When the batch is too small to share (sampling a
// single image), the tiles go one at a time and gemm uses the threads. Images never write
// the same output, so forward and input gradient do not depend on the thread count. The
// weight gradient sums over images: the batch is cut into a fixed number of chunks (a
// function of N only), each chunk sums its images, tile by tile in order, into its own
// buffer, and the chunk buffers are added in order at the end, so it does not depend on
// the thread count either.
#include "tensor/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>

#include "tensor/cpu/gemm.h"

namespace kiln::cpu {
namespace {

// The col tile of one GEMM: about a third of a 2 MiB L2, leaving room for GEMM's packed
// copy of it, the packed weight block and the output tile.
constexpr std::int64_t kColTileBytes = 768 * 1024;
// The weight gradient is summed in at most this many chunks of the batch.
constexpr std::int64_t kWeightChunks = 8;

// A grow-only scratch buffer aligned to a cache line, one per thread and slot, kept
// between calls so that steady-state training allocates (and page-faults) nothing.
enum class Slot { Col, Gather, Partial };

template <class T, Slot S>
T* scratch(std::int64_t count) {
  struct Buffer {
    struct Free {
      void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
    };
    std::unique_ptr<T, Free> data;
    std::int64_t capacity = 0;
  };
  thread_local Buffer buffer;
  if (buffer.capacity < count) {
    const auto bytes = static_cast<std::size_t>(count) * sizeof(T);
    buffer.data.reset(static_cast<T*>(::operator new[](bytes, std::align_val_t(64))));
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

// fn(i) for every item, the items split across the threads when that pays.
template <class Fn>
void for_each_item(std::int64_t items, Fn&& fn) {
  if (split_across_threads(items)) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < items; ++i) fn(i);
  } else {
    for (std::int64_t i = 0; i < items; ++i) fn(i);
  }
}

// fn(n0, n1) on contiguous shares of the images [0, n), one per thread when that pays.
template <class Fn>
void for_each_share(std::int64_t n, Fn&& fn) {
  if (split_across_threads(n)) {
#pragma omp parallel
    {
      const std::int64_t t = omp_get_thread_num(), parts = omp_get_num_threads();
      fn(n * t / parts, n * (t + 1) / parts);
    }
  } else {
    fn(std::int64_t{0}, n);
  }
}

bool is_pointwise(const Conv2dParams& p) {
  return p.KH == 1 && p.KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
         p.pad_w == 0;
}

// Note [Conv tiles]: whole images per tile (when > 1) or output rows per tile.
struct Tiling {
  std::int64_t images = 1, rows = 1;
};

template <class T>
Tiling tiling_of(const Conv2dParams& p) {
  const std::int64_t col_rows = p.C_in * p.KH * p.KW;
  const std::int64_t image_bytes =
      std::max<std::int64_t>(col_rows * p.H_out * p.W_out * static_cast<std::int64_t>(sizeof(T)), 1);
  if (2 * image_bytes <= kColTileBytes) return {kColTileBytes / image_bytes, p.H_out};
  const std::int64_t row_bytes =
      std::max<std::int64_t>(col_rows * p.W_out * static_cast<std::int64_t>(sizeof(T)), 1);
  return {1, std::clamp<std::int64_t>(kColTileBytes / row_bytes, 1, std::max<std::int64_t>(p.H_out, 1))};
}

// One tile: `count` images from n0 (all their rows), or output rows [oh0, oh1) of image n0.
struct Tile {
  std::int64_t n0, count, oh0, oh1;
  std::int64_t band(const Conv2dParams& p) const { return (oh1 - oh0) * p.W_out; }  // columns per image
  std::int64_t cols(const Conv2dParams& p) const { return count * band(p); }
};

// fn(tile) for the tiles of images [n0, n1), in order; groups of whole images are made
// as even as possible.
template <class Fn>
void for_each_tile(const Conv2dParams& p, const Tiling& t, std::int64_t n0, std::int64_t n1,
                   Fn&& fn) {
  if (t.images > 1) {
    const std::int64_t count = n1 - n0, tiles = (count + t.images - 1) / t.images;
    for (std::int64_t i = 0; i < tiles; ++i) {
      const std::int64_t a = n0 + count * i / tiles, b = n0 + count * (i + 1) / tiles;
      fn(Tile{a, b - a, 0, p.H_out});
    }
    return;
  }
  for (std::int64_t n = n0; n < n1; ++n)
    for (std::int64_t oh0 = 0; oh0 < p.H_out; oh0 += t.rows)
      fn(Tile{n, 1, oh0, std::min(p.H_out, oh0 + t.rows)});
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

// Note [Fast im2col]
// ~~~~~~~~~~~~~~~~~
// Row by row, im2col copies W_out values at a time: for the 8x8 and 32x32 images of a
// U-Net that is mostly loop overhead. With stride 1 and W_out == W (the usual "same"
// convolution), output row oh + 1 reads input row ih + 1 at the same column offset, and
// both the col rows and the input rows are W apart, so the rows of one weight position
// (ci, kh, kw) form one contiguous copy, shifted by off_w. The columns that fall into the
// padding would then hold values of the neighbouring input row; they are zeroed after
// the copy (im2col) or before the add (col2im, whose col is scratch), which is exact.

// The window of weight position (kh, kw) for output rows [oh0, oh1): the output rows
// [a, b) whose input row lies in [0, H), and the output columns [lo, hi) whose input
// column lies in [0, W). Input (ih, iw) = (oh·s_h + off_h, ow·s_w + off_w).
struct Window {
  std::int64_t a, b, lo, hi, off_h, off_w;
};
Window window_of(const Conv2dParams& p, std::int64_t kh, std::int64_t kw, std::int64_t oh0,
                 std::int64_t oh1) {
  Window w;
  w.off_h = kh * p.dilation_h - p.pad_h;
  w.off_w = kw * p.dilation_w - p.pad_w;
  const ValidRange rows = valid_range(w.off_h, p.stride_h, p.H, p.H_out);
  const ValidRange cols = valid_range(w.off_w, p.stride_w, p.W, p.W_out);
  w.a = std::clamp(rows.lo, oh0, oh1);
  w.b = std::clamp(rows.hi, w.a, oh1);
  w.lo = cols.lo, w.hi = cols.hi;
  return w;
}

bool rows_contiguous(const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1 && p.W_out == p.W;
}

// Zeroes columns [0, lo) and [hi, Wo) of `rows` rows of Wo values (column by column: the
// runs are a value or two long, and a memset call per run would cost more than the copy).
template <class T>
void zero_columns(T* d, std::int64_t rows, std::int64_t Wo, std::int64_t lo, std::int64_t hi) {
  for (std::int64_t ow = 0; ow < lo; ++ow)
    for (std::int64_t r = 0; r < rows; ++r) d[r * Wo + ow] = T(0);
  for (std::int64_t ow = hi; ow < Wo; ++ow)
    for (std::int64_t r = 0; r < rows; ++r) d[r * Wo + ow] = T(0);
}

// col (C_in·KH·KW, (oh1 - oh0)·W_out), row r at col + r·ld, = the columns of output rows
// [oh0, oh1) of one image x (C_in, H, W).
template <class T>
void im2col(const Conv2dParams& p, const T* __restrict x, std::int64_t oh0, std::int64_t oh1,
            T* __restrict col, std::int64_t ld) {
  const std::int64_t ncols = (oh1 - oh0) * p.W_out, Wo = p.W_out;
  const bool contiguous = rows_contiguous(p);
  for (std::int64_t kh = 0; kh < p.KH; ++kh) {
    for (std::int64_t kw = 0; kw < p.KW; ++kw) {
      const Window w = window_of(p, kh, kw, oh0, oh1);  // the same for every channel
      const bool empty = w.lo >= w.hi || w.a >= w.b;     // only padding
      const std::int64_t top = (w.a - oh0) * Wo, bottom = (w.b - oh0) * Wo;
      const std::int64_t rows = w.b - w.a;
      for (std::int64_t c = 0; c < p.C_in; ++c) {
        const T* xc = x + c * p.H * p.W;
        T* dst = col + ((c * p.KH + kh) * p.KW + kw) * ld;
        if (empty) {
          for (std::int64_t i = 0; i < ncols; ++i) dst[i] = T(0);
          continue;
        }
        for (std::int64_t i = 0; i < top; ++i) dst[i] = T(0);  // rows above the input
        for (std::int64_t i = bottom; i < ncols; ++i) dst[i] = T(0);  // rows below it
        T* d = dst + top;
        if (contiguous) {  // Note [Fast im2col]
          // d[i] = xc[base + i]; base + lo >= 0 and the last index read is in row b - 1.
          const std::int64_t base = (w.a + w.off_h) * p.W + w.off_w;
          const std::int64_t end = rows * Wo - (Wo - w.hi);
          for (std::int64_t i = w.lo; i < end; ++i) d[i] = xc[base + i];
          zero_columns(d, rows, Wo, w.lo, w.hi);
          continue;
        }
        zero_columns(d, rows, Wo, w.lo, w.hi);
        for (std::int64_t r = 0; r < rows; ++r, d += Wo) {
          const T* row = xc + ((w.a + r) * p.stride_h + w.off_h) * p.W + w.lo * p.stride_w + w.off_w;
          if (p.stride_w == 2) {  // the downsampling convs: a constant stride vectorises
            for (std::int64_t ow = w.lo; ow < w.hi; ++ow) d[ow] = row[(ow - w.lo) * 2];
          } else {
            for (std::int64_t ow = w.lo; ow < w.hi; ++ow) d[ow] = row[(ow - w.lo) * p.stride_w];
          }
        }
      }
    }
  }
}

// [region col2im]
// The adjoint of im2col: gx (C_in, H, W) += every entry of col (C_in·KH·KW,
// (oh1 - oh0)·W_out, row r at col + r·ld) at the input pixel im2col read it from. col is
// scratch: the entries that im2col would have read from the padding may be zeroed
// (Note [Fast im2col]).
template <class T>
void col2im(const Conv2dParams& p, T* __restrict col, std::int64_t oh0, std::int64_t oh1,
            T* __restrict gx, std::int64_t ld) {
  // BEGIN ASSIGNMENT 5.1
  const std::int64_t Wo = p.W_out;
  const bool contiguous = rows_contiguous(p);
  for (std::int64_t kh = 0; kh < p.KH; ++kh) {
    for (std::int64_t kw = 0; kw < p.KW; ++kw) {
      const Window w = window_of(p, kh, kw, oh0, oh1);
      if (w.lo >= w.hi || w.a >= w.b) continue;
      const std::int64_t rows = w.b - w.a;
      for (std::int64_t c = 0; c < p.C_in; ++c) {
        T* gc = gx + c * p.H * p.W;
        T* s = col + ((c * p.KH + kh) * p.KW + kw) * ld + (w.a - oh0) * Wo;
        if (contiguous) {  // Note [Fast im2col]
          zero_columns(s, rows, Wo, w.lo, w.hi);
          const std::int64_t base = (w.a + w.off_h) * p.W + w.off_w;
          const std::int64_t end = rows * Wo - (Wo - w.hi);
          for (std::int64_t i = w.lo; i < end; ++i) gc[base + i] += s[i];
          continue;
        }
        for (std::int64_t r = 0; r < rows; ++r, s += Wo) {
          T* row = gc + ((w.a + r) * p.stride_h + w.off_h) * p.W + w.lo * p.stride_w + w.off_w;
          if (p.stride_w == 2) {
            for (std::int64_t ow = w.lo; ow < w.hi; ++ow) row[(ow - w.lo) * 2] += s[ow];
          } else {
            for (std::int64_t ow = w.lo; ow < w.hi; ++ow) row[(ow - w.lo) * p.stride_w] += s[ow];
          }
        }
      }
    }
  }
  // END ASSIGNMENT
}
// [endregion]

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

// The col of a tile (C_in·KH·KW x tile.cols, row stride ld = tile.cols): every image's
// band side by side. For a 1x1 stride-1 convolution the unfolding is a plain copy.
template <class T>
void unfold_tile(const Conv2dParams& p, const T* input, const Tile& t, T* col) {
  const std::int64_t ld = t.cols(p), band = t.band(p);
  for (std::int64_t i = 0; i < t.count; ++i) {
    const T* x = input + (t.n0 + i) * p.C_in * p.H * p.W;
    if (is_pointwise(p)) {
      for (std::int64_t c = 0; c < p.C_in; ++c)
        std::copy_n(x + c * p.H * p.W + t.oh0 * p.W, band, col + c * ld + i * band);
    } else {
      im2col(p, x, t.oh0, t.oh1, col + i * band, ld);
    }
  }
}

// The rows of `out` (an (N, C, HWo) tensor) that a tile covers, as one (C x tile.cols)
// matrix: for a single image a view (pointer + row stride HWo, no copy), else gathered
// into `buffer`.
template <class T>
struct Block {
  const T* data;
  std::int64_t ld;
};
template <class T>
Block<T> gather_tile(const Conv2dParams& p, const T* out, std::int64_t C, const Tile& t,
                     T* buffer) {
  const std::int64_t hw = p.H_out * p.W_out, band = t.band(p);
  if (t.count == 1) return {out + t.n0 * C * hw + t.oh0 * p.W_out, hw};
  const std::int64_t ld = t.cols(p);
  for (std::int64_t i = 0; i < t.count; ++i)
    for (std::int64_t c = 0; c < C; ++c)
      std::copy_n(out + ((t.n0 + i) * C + c) * hw + t.oh0 * p.W_out, band, buffer + c * ld + i * band);
  return {buffer, ld};
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output) {
  const std::int64_t hw = p.H_out * p.W_out;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const Tiling tiling = tiling_of<T>(p);

  for_each_share(p.N, [&](std::int64_t n0, std::int64_t n1) {
    for_each_tile(p, tiling, n0, n1, [&](const Tile& t) {
      const std::int64_t cols = t.cols(p), band = t.band(p);
      // B = col: the image itself for a single-image 1x1 tile, else unfolded.
      const T* col;
      std::int64_t ldb;
      if (is_pointwise(p) && t.count == 1) {
        col = input + t.n0 * p.C_in * hw + t.oh0 * p.W_out, ldb = hw;
      } else {
        T* buf = scratch<T, Slot::Col>(p.C_in * p.KH * p.KW * cols);
        unfold_tile(p, input, t, buf);
        col = buf, ldb = cols;
      }
      // C: the output rows themselves for a single image (bias preloaded, beta = 1),
      // else a (C_out x cols) buffer copied out with the bias added.
      T* c;
      std::int64_t ldc;
      T beta = T(0);
      if (t.count == 1) {
        c = output + t.n0 * p.C_out * hw + t.oh0 * p.W_out, ldc = hw;
        if (bias != nullptr) {
          for (std::int64_t co = 0; co < p.C_out; ++co) std::fill_n(c + co * hw, band, bias[co]);
          beta = T(1);
        }
      } else {
        c = scratch<T, Slot::Gather>(p.C_out * cols), ldc = cols;
      }
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(false, false, cout_g, cols, K, T(1), weight + g * cout_g * K, K,
                col + g * K * ldb, ldb, beta, c + g * cout_g * ldc, ldc);
      }
      if (t.count > 1) {
        for (std::int64_t i = 0; i < t.count; ++i) {
          for (std::int64_t co = 0; co < p.C_out; ++co) {
            const T b = bias != nullptr ? bias[co] : T(0);
            const T* src = c + co * ldc + i * band;
            T* dst = output + ((t.n0 + i) * p.C_out + co) * hw;
            for (std::int64_t j = 0; j < band; ++j) dst[j] = src[j] + b;
          }
        }
      }
    });
  });
}

template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input) {
  const std::int64_t hw_in = p.H * p.W;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const bool pointwise = is_pointwise(p);
  const Tiling tiling = tiling_of<T>(p);

  for_each_share(p.N, [&](std::int64_t n0, std::int64_t n1) {
    // col2im adds into the input gradient; a 1x1 convolution writes it directly.
    if (!pointwise) std::fill(grad_input + n0 * p.C_in * hw_in, grad_input + n1 * p.C_in * hw_in, T(0));
    for_each_tile(p, tiling, n0, n1, [&](const Tile& t) {
      const std::int64_t cols = t.cols(p), band = t.band(p);
      const Block<T> gy = gather_tile(p, grad_output, p.C_out, t,
                                      t.count > 1 ? scratch<T, Slot::Gather>(p.C_out * cols) : nullptr);
      // dcol (C_in·KH·KW x cols) = W_gᵀ @ dout_g for every group; for a single-image 1x1
      // tile it is the input gradient itself.
      T* dcol;
      std::int64_t ld;
      if (pointwise && t.count == 1) {
        dcol = grad_input + t.n0 * p.C_in * hw_in + t.oh0 * p.W, ld = hw_in;
      } else {
        dcol = scratch<T, Slot::Col>(p.C_in * p.KH * p.KW * cols), ld = cols;
      }
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(true, false, K, cols, cout_g, T(1), weight + g * cout_g * K, K,
                gy.data + g * cout_g * gy.ld, gy.ld, T(0), dcol + g * K * ld, ld);
      }
      if (pointwise && t.count == 1) return;
      for (std::int64_t i = 0; i < t.count; ++i) {
        T* gx = grad_input + (t.n0 + i) * p.C_in * hw_in;
        if (pointwise) {
          for (std::int64_t c = 0; c < p.C_in; ++c) std::copy_n(dcol + c * ld + i * band, band, gx + c * hw_in);
        } else {
          col2im(p, dcol + i * band, t.oh0, t.oh1, gx, ld);
        }
      }
    });
  });
}

template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight) {
  const std::int64_t hw = p.H_out * p.W_out;
  const std::int64_t cout_g = p.C_out / p.groups, cin_g = p.C_in / p.groups;
  const std::int64_t K = cin_g * p.KH * p.KW;
  const std::int64_t wsize = p.C_out * K;
  const Tiling tiling = tiling_of<T>(p);

  // Note [Threads in conv]: chunk c sums images [N·c/chunks, N·(c+1)/chunks), tile by tile
  // in order, into its own dWᵀ (groups one after another, each K x C_out/g).
  const std::int64_t chunks = std::max<std::int64_t>(std::min(p.N, kWeightChunks), 1);
  T* partial = scratch<T, Slot::Partial>(chunks * wsize);

  for_each_item(chunks, [&](std::int64_t chunk) {
    T* acc = partial + chunk * wsize;
    bool first = true;  // the first GEMM of a chunk overwrites acc
    const std::int64_t n0 = p.N * chunk / chunks, n1 = p.N * (chunk + 1) / chunks;
    for_each_tile(p, tiling, n0, n1, [&](const Tile& t) {
      const std::int64_t cols = t.cols(p);
      const T* col;
      std::int64_t lda;
      if (is_pointwise(p) && t.count == 1) {
        col = input + t.n0 * p.C_in * p.H * p.W + t.oh0 * p.W, lda = hw;
      } else {
        T* buf = scratch<T, Slot::Col>(p.C_in * p.KH * p.KW * cols);
        unfold_tile(p, input, t, buf);
        col = buf, lda = cols;
      }
      const Block<T> gy = gather_tile(p, grad_output, p.C_out, t,
                                      t.count > 1 ? scratch<T, Slot::Gather>(p.C_out * cols) : nullptr);
      for (std::int64_t g = 0; g < p.groups; ++g) {
        gemm<T>(false, true, K, cout_g, cols, T(1), col + g * K * lda, lda,
                gy.data + g * cout_g * gy.ld, gy.ld, first ? T(0) : T(1), acc + g * K * cout_g,
                cout_g);
      }
      first = false;
    });
    if (first) std::fill(acc, acc + wsize, T(0));  // no images, or H_out·W_out == 0
  });

  // grad_weight[g·C_out/g + co, k] = Σ_chunks acc[g][k, co], the chunks added in order.
  for (std::int64_t g = 0; g < p.groups; ++g) {
    for (std::int64_t co = 0; co < cout_g; ++co) {
      T* dst = grad_weight + (g * cout_g + co) * K;
      for (std::int64_t k = 0; k < K; ++k) {
        const T* src = partial + g * K * cout_g + k * cout_g + co;
        T sum = src[0];
        for (std::int64_t c = 1; c < chunks; ++c) sum += src[c * wsize];
        dst[k] = sum;
      }
    }
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
