#include "tensor/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <new>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "tensor/error.h"

// Note [GEMM blocking]
// ~~~~~~~~~~~~~~~~~~~~
// The triple loop C[i,j] += A[i,p] * B[p,j] does 2 flops per 2 values it loads, so it
// runs at the speed of memory, not of the FMA units: a core can do 32 float FMAs per
// cycle but bring in only a few cache lines per cycle from L2, and far fewer from RAM.
// GotoBLAS (and BLIS after it) reorder the same sum so that each level of the memory
// hierarchy holds a block that is reused many times before it is evicted
// (row-major; op(A) is A or A^T, op(B) is B or B^T):
//
//   for jc in [0, n) step NC:
//     for pc in [0, k) step KC:
//       pack op(B)[pc:+KC, jc:+NC] into Bp, NR-column panels    B block  KC x NC -> L2
//       for ic in [0, m) step MC:
//         pack op(A)[ic:+MC, pc:+KC] into Ap, MR-row panels     A block  MC x KC -> L2/L3
//         for ir in [0, MC) step MR:                            A panel  MR x KC -> L1
//           for jr in [0, NC) step NR:                          B panel  KC x NR, from L2
//             micro-kernel: C[ic+ir:+MR, jc+jr:+NR] += A panel @ B panel   -> registers
//
// The micro-kernel keeps a whole MR x NR tile of C in vector registers for its KC
// steps. Each step loads one row of the B panel (NR values = NV vectors), broadcasts
// the MR values of one column of the A panel, and issues MR * NV fused multiply-adds:
// with AVX-512 and floats that is 12 x 2 = 24 FMAs for 2 + 12 loads, so the FMA units,
// not the loads, set the pace. C is read and written once per KC steps.
//
// Why pack: the packed panels are what the micro-kernel reads in its inner loop, and
//   1. it reads them with unit stride in exactly the order it needs, whatever lda/ldb
//      and the transposes are, so one micro-kernel serves all four transpose cases;
//   2. a panel is contiguous, so it fills whole cache lines and few TLB pages. An
//      unpacked column of A with lda = 1024 floats touches a new 4 KiB page per value,
//      and all its lines fall into the same few L1 sets and evict each other;
//   3. panels on the bottom and right edges are padded with zeros, so the micro-kernel
//      always computes a full tile; only the store to C is cut to size.
// Packing copies O(mk + kn) values against the O(mnk) flops that reuse them.
//
// Which cache each block targets (this machine: 48 KiB L1d and 2 MiB L2 per core):
//   KC: the A panel (MR * KC values) is reused by every B panel of the block, so it
//       stays in L1; it takes a quarter of L1, leaving the rest to the B panel that
//       streams past it and the C tile. A larger KC means fewer loads and stores of C
//       per flop, so KC is as large as that allows.
//   NC: the B block (KC * NC values) is reread by every A panel, so it stays in L2,
//       taking half of it.
//   MC: the A block (MC * KC values) is read once, panel by panel; a quarter of L2
//       keeps it from evicting the B block.
// The B panels are read from L2 rather than L1 because their rows are vector loads,
// which L2 delivers fast enough; the A values are broadcasts, one load per FMA pair,
// and those must hit L1. (Both orders of the two inner loops are in the literature;
// this one, BLIS's choice for Skylake-X, measured about 15% faster here.)
//
// Threads (OpenMP): every thread packs a share of the B panels into the one shared Bp,
// then a barrier; then the threads, arranged as a tm x tn grid, each compute their own
// rectangle of C: thread (i, j) owns row range i (and packs the A blocks of those rows
// into its own Ap) and B panel range j. Bp has room for two B blocks used in turn, so
// the next block can be packed while slower threads still read the current one.
// Threads never write the same C element and every element is summed in the same
// order, so the result does not depend on the number of threads.

namespace kiln::cpu {
namespace {

#if defined(__clang__)
#define KILN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define KILN_UNROLL _Pragma("GCC unroll 32")
#else
#define KILN_UNROLL
#endif

// ---- one SIMD register ------------------------------------------------------------
// The micro-kernel needs six operations on a register of T; each instruction set
// supplies them, and sets the tile shape (kMR rows x kNV vectors) to fill its register
// file: kMR * kNV accumulators + kNV for the B row + 1 for the broadcast A value.
template <class T>
struct Vec;

#if defined(__AVX512F__)
constexpr int kMR = 12, kNV = 2;  // 24 + 2 + 1 of 32 zmm registers
template <>
struct Vec<float> {
  using Reg = __m512;
  static constexpr int width = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg broadcast(float x) { return _mm512_set1_ps(x); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c
};
template <>
struct Vec<double> {
  using Reg = __m512d;
  static constexpr int width = 8;
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static Reg broadcast(double x) { return _mm512_set1_pd(x); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
};
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMR = 6, kNV = 2;  // 12 + 2 + 1 of 16 ymm registers
template <>
struct Vec<float> {
  using Reg = __m256;
  static constexpr int width = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg broadcast(float x) { return _mm256_set1_ps(x); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
};
template <>
struct Vec<double> {
  using Reg = __m256d;
  static constexpr int width = 4;
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static Reg broadcast(double x) { return _mm256_set1_pd(x); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
};
#else
// Portable fallback: a "register" is one scalar; the compiler may still vectorise.
constexpr int kMR = 4, kNV = 4;
template <class T>
struct Vec {
  using Reg = T;
  static constexpr int width = 1;
  static Reg zero() { return T(0); }
  static Reg load(const T* p) { return *p; }
  static void store(T* p, Reg v) { *p = v; }
  static Reg broadcast(T x) { return x; }
  static Reg mul(Reg a, Reg b) { return a * b; }
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }
};
#endif

// [region blocking]
// ---- block sizes (Note [GEMM blocking]) -------------------------------------------
constexpr std::size_t kL1Bytes = 48 * 1024;
constexpr std::size_t kL2Bytes = 2048 * 1024;

template <class T>
struct Blocking {
  static constexpr std::int64_t mr = kMR;
  static constexpr std::int64_t nr = kNV * Vec<T>::width;
  // The A panel, MR x KC, takes a quarter of L1.
  static constexpr std::int64_t kc = kL1Bytes / 4 / (mr * sizeof(T));
  // The B block, KC x NC, takes half of L2; NC is a whole number of B panels.
  static constexpr std::int64_t nc = kL2Bytes / 2 / (kc * sizeof(T)) / nr * nr;
  // The A block, MC x KC, takes a quarter of L2; MC is a whole number of A panels.
  static constexpr std::int64_t mc = kL2Bytes / 4 / (kc * sizeof(T)) / mr * mr;
};
// [endregion]

// A grow-only buffer aligned to 64 bytes (one cache line), kept per thread so that
// repeated calls neither call malloc nor page-fault a fresh allocation; it never grows
// beyond one A block (Ap) or two B blocks (Bp), about 0.5 and 2 MiB with AVX-512 here.
// The alignment keeps every vector load from a packed panel inside one cache line.
template <class T>
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }

  T* get(std::size_t count) {
    if (count > capacity_) {
      release();
      data_ = static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t{64}));
      capacity_ = count;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t{64});
    data_ = nullptr;
    capacity_ = 0;
  }
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

enum class Slot { A, B };

template <class T, Slot S>
PackBuffer<T>& thread_buffer() {
  thread_local PackBuffer<T> buffer;
  return buffer;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// ---- packing ----------------------------------------------------------------------
// Copies the mc x kc block of op(A) starting at `a` into A panels: panel q holds rows
// [q*MR, q*MR + MR) stored column after column (MR values per step of k), the order in
// which the micro-kernel broadcasts them. Rows past mc are zero.
//   element (i, p) of op(A) is a[i * rs + p * cs]; ap is ceil(mc / MR) * MR x kc
template <class T>
void pack_a(std::int64_t mc, std::int64_t kc, const T* a, std::int64_t rs, std::int64_t cs,
            T* ap) {
  constexpr std::int64_t MR = Blocking<T>::mr;
  for (std::int64_t i0 = 0; i0 < mc; i0 += MR, ap += MR * kc) {
    const std::int64_t rows = std::min(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (rows == MR) {
      for (std::int64_t p = 0; p < kc; ++p) {
        KILN_UNROLL
        for (std::int64_t r = 0; r < MR; ++r) ap[p * MR + r] = src[r * rs + p * cs];
      }
    } else {
      for (std::int64_t p = 0; p < kc; ++p) {
        for (std::int64_t r = 0; r < rows; ++r) ap[p * MR + r] = src[r * rs + p * cs];
        for (std::int64_t r = rows; r < MR; ++r) ap[p * MR + r] = T(0);
      }
    }
  }
}

// Copies one B panel, the kc x cols slice of op(B) starting at `b`, stored row after
// row (NR values per step of k), the order in which the micro-kernel loads them.
// Columns past cols (only in the last panel of a block) are zero.
//   element (p, j) of op(B) is b[p * rs + j * cs]; bp is kc x NR
template <class T>
void pack_b_panel(std::int64_t kc, std::int64_t cols, const T* b, std::int64_t rs,
                  std::int64_t cs, T* bp) {
  constexpr std::int64_t NR = Blocking<T>::nr;
  if (cols == NR && cs == 1) {  // rows of op(B) are contiguous: a straight copy
    for (std::int64_t p = 0; p < kc; ++p) {
      KILN_UNROLL
      for (std::int64_t j = 0; j < NR; ++j) bp[p * NR + j] = b[p * rs + j];
    }
    return;
  }
  for (std::int64_t p = 0; p < kc; ++p) {
    for (std::int64_t j = 0; j < cols; ++j) bp[p * NR + j] = b[p * rs + j * cs];
    for (std::int64_t j = cols; j < NR; ++j) bp[p * NR + j] = T(0);
  }
}

// [region micro_kernel]
// ---- micro-kernel -----------------------------------------------------------------
// C tile = alpha * (A panel @ B panel) + beta * C tile
//   ap is the A panel, MR x kc stored column by column (MR values per step);
//   bp is the B panel, kc x NR stored row by row; c is MR x NR with row stride ldc.
// beta == 0 does not read C.
template <class T>
void micro_kernel(std::int64_t kc, const T* __restrict ap, const T* __restrict bp, T alpha,
                  T beta, T* __restrict c, std::int64_t ldc) {
  // BEGIN ASSIGNMENT 3.1
  using V = Vec<T>;
  using Reg = typename V::Reg;
  constexpr int MR = kMR, NV = kNV, W = V::width;

  Reg acc[MR][NV];
  KILN_UNROLL
  for (int r = 0; r < MR; ++r) {
    KILN_UNROLL
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  }

  for (std::int64_t p = 0; p < kc; ++p) {
    Reg brow[NV];
    KILN_UNROLL
    for (int v = 0; v < NV; ++v) brow[v] = V::load(bp + v * W);
    KILN_UNROLL
    for (int r = 0; r < MR; ++r) {
      const Reg ar = V::broadcast(ap[r]);
      KILN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, brow[v], acc[r][v]);
    }
    ap += MR;
    bp += NV * W;
  }

  const Reg va = V::broadcast(alpha);
  if (beta == T(0)) {
    KILN_UNROLL
    for (int r = 0; r < MR; ++r) {
      KILN_UNROLL
      for (int v = 0; v < NV; ++v) V::store(c + r * ldc + v * W, V::mul(va, acc[r][v]));
    }
  } else {
    const Reg vb = V::broadcast(beta);
    KILN_UNROLL
    for (int r = 0; r < MR; ++r) {
      KILN_UNROLL
      for (int v = 0; v < NV; ++v) {
        T* cp = c + r * ldc + v * W;
        V::store(cp, V::fma(va, acc[r][v], V::mul(vb, V::load(cp))));
      }
    }
  }
  // END ASSIGNMENT
}
// [endregion]

// ---- macro-kernel: the ir and jr loops of Note [GEMM blocking] ---------------------
// Multiplies one packed A block (mc x kc) by the B panels [panel_begin, panel_end) of
// one packed B block (kc x nc) into C, where c points at the blocks' corner C[ic, jc].
template <class T>
void macro_kernel(std::int64_t mc, std::int64_t nc, std::int64_t kc, const T* ap,
                  const T* bp, std::int64_t panel_begin, std::int64_t panel_end, T alpha,
                  T beta, T* c, std::int64_t ldc) {
  constexpr std::int64_t MR = Blocking<T>::mr, NR = Blocking<T>::nr;
  for (std::int64_t i = 0; i < mc; i += MR) {
    const std::int64_t rows = std::min(MR, mc - i);
    const T* a_panel = ap + i * kc;
    for (std::int64_t jp = panel_begin; jp < panel_end; ++jp) {
      const std::int64_t j = jp * NR;
      const std::int64_t cols = std::min(NR, nc - j);
      const T* b_panel = bp + j * kc;
      T* c_tile = c + i * ldc + j;
      if (rows == MR && cols == NR) {
        micro_kernel(kc, a_panel, b_panel, alpha, beta, c_tile, ldc);
        continue;
      }
      // A partial tile on the bottom or right edge: compute the full tile (the padding
      // is zeros) into a scratch tile, then update only the part that lies inside C.
      alignas(64) T tile[MR * NR];
      micro_kernel(kc, a_panel, b_panel, T(1), T(0), tile, NR);
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t q = 0; q < cols; ++q) {
          T& out = c_tile[r * ldc + q];
          out = beta == T(0) ? alpha * tile[r * NR + q] : alpha * tile[r * NR + q] + beta * out;
        }
      }
    }
  }
}

// ---- threads ----------------------------------------------------------------------
// Arranges nt threads as a tm x tn grid over (A panels, B panels of one block), the
// factorisation that gives the busiest thread the least work per step of k: its
// tiles, MR * NR FMAs each, at two vectors of FMAs per cycle, plus the rows of A it
// packs, about one value per cycle. Splitting columns makes every thread of a column
// pack the same rows of A, so it wins only when the rows split unevenly.
struct Grid {
  int tm, tn;
};

template <class T>
Grid thread_grid(int nt, std::int64_t row_panels, std::int64_t col_panels) {
  constexpr std::int64_t MR = Blocking<T>::mr, NR = Blocking<T>::nr;
  constexpr std::int64_t fmas_per_cycle = 2 * Vec<T>::width;
  Grid best{nt, 1};
  std::int64_t best_cycles = -1;
  for (int tm = nt; tm >= 1; --tm) {
    if (nt % tm != 0) continue;
    const int tn = nt / tm;
    const std::int64_t rows = ceil_div(row_panels, tm), cols = ceil_div(col_panels, tn);
    const std::int64_t cycles = rows * cols * MR * NR / fmas_per_cycle + rows * MR;
    if (best_cycles < 0 || cycles < best_cycles) {
      best = {tm, tn};
      best_cycles = cycles;
    }
  }
  return best;
}

// The share [begin, end) of `count` items that part `i` of `parts` gets.
std::int64_t share_begin(std::int64_t count, int i, int parts) { return count * i / parts; }

// Forking threads costs a few microseconds; below this much work per thread it does
// not pay off.
constexpr double kMinFlopsPerThread = 2.0 * 64 * 64 * 64;

void check_arguments(const char* op, bool trans_a, bool trans_b, std::int64_t m,
                     std::int64_t n, std::int64_t k, std::int64_t lda, std::int64_t ldb,
                     std::int64_t ldc) {
  KILN_CHECK(m >= 0 && n >= 0 && k >= 0, "{}: negative size m={}, n={}, k={}", op, m, n, k);
  const std::int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  KILN_CHECK(lda >= std::max<std::int64_t>(a_cols, 1),
             "{}: lda={} is less than the {} columns of A{}", op, lda, a_cols,
             trans_a ? " (stored transposed)" : "");
  KILN_CHECK(ldb >= std::max<std::int64_t>(b_cols, 1),
             "{}: ldb={} is less than the {} columns of B{}", op, ldb, b_cols,
             trans_b ? " (stored transposed)" : "");
  KILN_CHECK(ldc >= std::max<std::int64_t>(n, 1), "{}: ldc={} is less than n={}", op, ldc, n);
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc) {
  check_arguments("gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {  // C = beta * C, and A, B are never read
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        T& out = c[i * ldc + j];
        out = beta == T(0) ? T(0) : beta * out;
      }
    }
    return;
  }

  using B = Blocking<T>;
  constexpr std::int64_t MR = B::mr, NR = B::nr, MC = B::mc, KC = B::kc, NC = B::nc;
  // op(A)(i, p) = a[i * a_rs + p * a_cs] and op(B)(p, j) = b[p * b_rs + j * b_cs].
  const std::int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const std::int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;

  // Two B blocks, used in turn, so that a thread may pack the next block while the
  // others still compute with the current one: one barrier per block suffices.
  const std::int64_t kc_max = std::min(KC, k);
  const std::int64_t nc_max = std::min(NC, ceil_div(n, NR) * NR);
  const std::int64_t b_block = kc_max * nc_max;
  T* bp_blocks = thread_buffer<T, Slot::B>().get(static_cast<std::size_t>(2 * b_block));

  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) *
                       static_cast<double>(k);
  threads = static_cast<int>(
      std::clamp(flops / kMinFlopsPerThread, 1.0, static_cast<double>(threads)));

  // The loop nest of Note [GEMM blocking], run by thread `tid` of `nt`.
  auto run = [&](int tid, int nt) {
    const std::int64_t row_panels = ceil_div(m, MR);
    const Grid grid = thread_grid<T>(nt, row_panels, ceil_div(nc_max, NR));
    const int ti = tid / grid.tn, tj = tid % grid.tn;
    // This thread's rows of C, a whole number of A panels.
    const std::int64_t row_begin = share_begin(row_panels, ti, grid.tm) * MR;
    const std::int64_t row_end = std::min(m, share_begin(row_panels, ti + 1, grid.tm) * MR);
    const std::int64_t mc_max = std::min(MC, ceil_div(row_end - row_begin, MR) * MR);
    T* ap = thread_buffer<T, Slot::A>().get(static_cast<std::size_t>(mc_max * kc_max));

    std::int64_t block = 0;
    for (std::int64_t jc = 0; jc < n; jc += NC) {
      const std::int64_t nc = std::min(NC, n - jc);
      const std::int64_t panels = ceil_div(nc, NR);
      for (std::int64_t pc = 0; pc < k; pc += KC, ++block) {
        const std::int64_t kc = std::min(KC, k - pc);
        T* bp = bp_blocks + (block % 2) * b_block;
        // Every block after the first along k adds to what the first one wrote.
        const T beta_block = pc == 0 ? beta : T(1);

        // All threads pack the B block together, then wait for each other. This half
        // of Bp last held block `block - 2`, and every thread was done with that one
        // before it reached the barrier of block `block - 1`, which this thread passed.
        for (std::int64_t jp = share_begin(panels, tid, nt);
             jp < share_begin(panels, tid + 1, nt); ++jp) {
          pack_b_panel(kc, std::min(NR, nc - jp * NR), b + pc * b_rs + (jc + jp * NR) * b_cs,
                       b_rs, b_cs, bp + jp * NR * kc);
        }
        if (nt > 1) {
#pragma omp barrier
        }

        const std::int64_t panel_begin = share_begin(panels, tj, grid.tn);
        const std::int64_t panel_end = share_begin(panels, tj + 1, grid.tn);
        for (std::int64_t ic = row_begin; ic < row_end; ic += MC) {
          const std::int64_t mc = std::min(MC, row_end - ic);
          pack_a(mc, kc, a + ic * a_rs + pc * a_cs, a_rs, a_cs, ap);
          macro_kernel(mc, nc, kc, ap, bp, panel_begin, panel_end, alpha, beta_block,
                       c + ic * ldc + jc, ldc);
        }
      }
    }
  };

  if (threads == 1) {
    run(0, 1);
  } else {
#pragma omp parallel num_threads(threads)
    run(omp_get_thread_num(), omp_get_num_threads());
  }
}

template <class T>
void gemm_reference(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                    std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
                    std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  check_arguments("gemm_reference", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      T sum = 0;
      if (alpha != T(0)) {
        for (std::int64_t p = 0; p < k; ++p) {
          const T aip = trans_a ? a[p * lda + i] : a[i * lda + p];
          const T bpj = trans_b ? b[j * ldb + p] : b[p * ldb + j];
          sum += aip * bpj;
        }
      }
      T& out = c[i * ldc + j];
      out = beta == T(0) ? alpha * sum : alpha * sum + beta * out;
    }
  }
}

#define KILN_INSTANTIATE_GEMM(T)                                                        \
  template void gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, \
                        std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);       \
  template void gemm_reference<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, \
                                  const T*, std::int64_t, const T*, std::int64_t, T, T*,   \
                                  std::int64_t);
KILN_INSTANTIATE_GEMM(float)
KILN_INSTANTIATE_GEMM(double)
#undef KILN_INSTANTIATE_GEMM
#undef KILN_UNROLL

}  // namespace kiln::cpu
