#pragma once
// CPU matrix multiply (GEMM) on raw row-major buffers. No Tensor, no autograd: the op
// layer (autograd/ops/matmul.cpp) checks shapes and makes operands contiguous first.
//
//   C is (m, n), op(A) is (m, k), op(B) is (k, n); all row-major.
//   A is stored (m, k) with lda >= k, or, when trans_a, (k, m) with lda >= m.
//   B is stored (k, n) with ldb >= n, or, when trans_b, (n, k) with ldb >= k.
//   C is stored (m, n) with ldc >= n.
//
// gemm is the packed, cache-blocked algorithm of GotoBLAS/BLIS (see Note [GEMM
// blocking] in gemm.cpp), threaded with OpenMP. gemm_reference is the plain triple
// loop the tests compare it against.
#include <cstdint>

namespace kiln::cpu {

// C = alpha * op(A) @ op(B) + beta * C, where op(X) = X^T when trans_x.
// When beta == 0, C is only written, never read, so it may hold NaN garbage.
// When alpha == 0 or k == 0, A and B are not read and C = beta * C.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          T alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
          std::int64_t ldc);

// Same contract as gemm; a single-threaded triple loop with no blocking.
template <class T>
void gemm_reference(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                    std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
                    std::int64_t ldb, T beta, T* c, std::int64_t ldc);

}  // namespace kiln::cpu
