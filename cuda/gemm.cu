// CUDA matrix multiply through cuBLAS (contracts in cuda/gemm.h and tensor/cpu/gemm.h).
//
// Note [Row-major GEMM in cuBLAS]
// cuBLAS is column-major. A row-major matrix X (r, c) with leading dimension ld is, byte
// for byte, the column-major matrix Xᵀ (c, r) with the same ld. So the row-major product
//   C (m, n) = op(A) (m, k) · op(B) (k, n)
// is the column-major product
//   Cᵀ (n, m) = op(B)ᵀ (n, k) · op(A)ᵀ (k, m),
// which is one cuBLAS call with the operands swapped, the sizes (n, m, k) and each
// operand's own transpose flag: a row-major B read as column-major already is Bᵀ, so
// op(B)ᵀ needs a transpose exactly when trans_b asks for one. No data moves.
//
// Precision: float32 runs with CUBLAS_COMPUTE_32F (full float32 products) unless
// cuda::set_allow_tf32(true), then CUBLAS_COMPUTE_32F_FAST_TF32 (tensor cores, inputs
// rounded to 10 mantissa bits); float64 with CUBLAS_COMPUTE_64F.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/gemm.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

// ---- kernels --------------------------------------------------------------------------

// C = beta · C for the degenerate products (k == 0): cuBLAS is not asked to do nothing.
//   c (batch, m, n) with leading dimension ldc and batch stride stride_c
template <class T>
__global__ void scale_kernel(T* c, std::int64_t m, std::int64_t n, std::int64_t ldc,
                             std::int64_t stride_c, std::int64_t batch, T beta) {
  const std::int64_t total = batch * m * n;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t b = t / (m * n), r = (t / n) % m, col = t % n;
    T& x = c[b * stride_c + r * ldc + col];
    x = beta == T(0) ? T(0) : beta * x;  // beta = 0 never reads C (it may hold NaN)
  }
}

// ---- launchers ------------------------------------------------------------------------

template <class T>
constexpr cudaDataType_t data_type() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;
}

template <class T>
cublasComputeType_t compute_type() {
  if constexpr (std::is_same_v<T, double>) return CUBLAS_COMPUTE_64F;
  return allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

int as_int(std::int64_t v, const char* what, const char* op) {
  KILN_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(),
             "{}: {} = {} does not fit cuBLAS's 32-bit sizes", op, what, v);
  return static_cast<int>(v);
}

void check_leading(const char* op, bool trans, std::int64_t rows, std::int64_t cols,
                   std::int64_t ld, const char* name) {
  // Row-major storage: (rows, cols), or (cols, rows) when transposed.
  const std::int64_t stored_cols = trans ? rows : cols;
  KILN_CHECK(ld >= (stored_cols > 1 ? stored_cols : 1),
             "{}: leading dimension of {} is {} but a row holds {} values", op, name, ld,
             stored_cols);
}

}  // namespace

template <class T>
void gemm_strided_batched(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                          std::int64_t k, T alpha, const T* a, std::int64_t lda,
                          std::int64_t stride_a, const T* b, std::int64_t ldb,
                          std::int64_t stride_b, T beta, T* c, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch) {
  const char* op = "gemm";
  KILN_CHECK(m >= 0 && n >= 0 && k >= 0 && batch >= 0,
             "{}: negative size (m {}, n {}, k {}, batch {})", op, m, n, k, batch);
  if (m == 0 || n == 0 || batch == 0) return;
  check_leading(op, false, m, n, ldc, "C");
  if (k == 0 || alpha == T(0)) {  // C = beta C; A and B are not read
    if (beta == T(1)) return;
    scale_kernel<<<detail::blocks_for(batch * m * n), detail::kThreads, 0, detail::stream()>>>(
        c, m, n, ldc, stride_c, batch, beta);
    KILN_CUDA_CHECK_LAUNCH("gemm");
    return;
  }
  check_leading(op, trans_a, m, k, lda, "A");
  check_leading(op, trans_b, k, n, ldb, "B");
  // [region cublas_call]
  // Note [Row-major GEMM in cuBLAS]: Cᵀ = op(B)ᵀ op(A)ᵀ, column-major.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = detail::cublas_handle();
  if (batch == 1) {
    KILN_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, as_int(n, "n", op), as_int(m, "m", op),
                                   as_int(k, "k", op), &alpha, b, data_type<T>(),
                                   as_int(ldb, "ldb", op), a, data_type<T>(),
                                   as_int(lda, "lda", op), &beta, c, data_type<T>(),
                                   as_int(ldc, "ldc", op), compute_type<T>(),
                                   CUBLAS_GEMM_DEFAULT));
  } else {
    KILN_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, op_b, op_a, as_int(n, "n", op), as_int(m, "m", op), as_int(k, "k", op), &alpha, b,
        data_type<T>(), as_int(ldb, "ldb", op), stride_b, a, data_type<T>(),
        as_int(lda, "lda", op), stride_a, &beta, c, data_type<T>(), as_int(ldc, "ldc", op),
        stride_c, as_int(batch, "batch", op), compute_type<T>(), CUBLAS_GEMM_DEFAULT));
  }
  // [endregion]
}

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc) {
  gemm_strided_batched<T>(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc,
                          0, 1);
}

#define KILN_INSTANTIATE(T)                                                                   \
  template void gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*,    \
                        std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);           \
  template void gemm_strided_batched<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, \
                                        T, const T*, std::int64_t, std::int64_t, const T*,    \
                                        std::int64_t, std::int64_t, T, T*, std::int64_t,      \
                                        std::int64_t, std::int64_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
