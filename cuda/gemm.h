#pragma once
// CUDA matrix multiply through cuBLAS: the same contract as tensor/cpu/gemm.h (row-major
// C (m, n) = alpha op(A) op(B) + beta C), plus a strided batch of them in one call.
// float32 uses TF32 tensor cores only when cuda::set_allow_tf32(true) (tensor/backend.h).
#include <cstdint>

namespace kiln::cuda {

template <class T>  // float, double
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc);

// For i in [0, batch): C_i = alpha op(A_i) op(B_i) + beta C_i, where X_i starts at
// x + i * stride_x (a stride may be 0: one matrix shared by the whole batch).
template <class T>  // float, double
void gemm_strided_batched(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                          std::int64_t k, T alpha, const T* a, std::int64_t lda,
                          std::int64_t stride_a, const T* b, std::int64_t ldb,
                          std::int64_t stride_b, T beta, T* c, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch);

}  // namespace kiln::cuda
