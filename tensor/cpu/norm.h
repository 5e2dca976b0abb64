#pragma once
// CPU normalisation kernels (group norm, layer norm, batch norm) on raw contiguous
// buffers: no Tensor, no autograd. The op layer (autograd/ops/norm.cpp) checks shapes,
// makes operands contiguous and passes nullptr for an absent weight / bias (no affine:
// weight 1, bias 0) or for a gradient nobody asked for.
//
// Every norm computes, over some set of M elements,
//   mean = Σ x / M,   var = Σ (x - mean)² / M   (biased),   rstd = 1 / √(var + eps),
//   xhat = (x - mean) · rstd,                    y = xhat · w + b,
// and its backward, with gw = dy · w, is the one formula
//   dx = rstd · (gw - mean(gw) - xhat · mean(gw · xhat)),
//   dw = Σ dy · xhat,   db = Σ dy      (summed over everything that shares the w, b).
// The shapes differ only in which elements form one set:
//
//   group_norm   x, y, dy, dx (N, C, S), S = product of the spatial dims;
//                  channels split into G groups of C/G; one set per (n, g): C/G · S
//                  elements; mean, rstd (N, G); weight, bias, dw, db (C).
//   layer_norm   x, y, dy, dx (M, K): one set per row of K elements (K = product of
//                  normalized_shape); mean, rstd (M); weight, bias, dw, db (K).
//   batch_norm   x, y, dy, dx (N, C, S): one set per channel c of N · S elements;
//                  mean, rstd (C); weight, bias, dw, db, running_mean, running_var (C).
//                  training:  batch statistics as above; running stats (when not null)
//                    become (1 - momentum) · running + momentum · batch, where the batch
//                    var is the unbiased one, Σ (x - mean)² / (N·S - 1), as in PyTorch.
//                  inference: mean = running_mean, rstd = 1 / √(running_var + eps); the
//                    normalisation is a fixed affine map, so dx = dy · w · rstd.
//
// float32 sums accumulate in double. Sums run in a fixed order (OpenMP splits the
// independent sets, never one sum), so results do not depend on the thread count.
#include <cstdint>

namespace kiln::cpu {

template <class T>  // float, double
void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t G, double eps);
// dx, dweight, dbias may each be null (not computed).
template <class T>
void group_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, std::int64_t G);

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t M, std::int64_t K, double eps);
template <class T>
void layer_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t M, std::int64_t K);

// mean and rstd receive the statistics used (batch or running) for the backward.
// Training requires N · S > 1 when running_var is updated (the unbiased variance).
template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var,
                        T* y, T* mean, T* rstd, std::int64_t N, std::int64_t C, std::int64_t S,
                        bool training, double momentum, double eps);
template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, bool training);

}  // namespace kiln::cpu
