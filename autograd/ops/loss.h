#pragma once
// Loss functions, torch.nn.functional's mse_loss / l1_loss / cross_entropy.
//
// Reduction: None returns the per-element losses, Mean their average (over every
// element, for cross_entropy over every sample and position), Sum their total.
#include "tensor/tensor.h"

namespace kiln {

enum class Reduction { None, Mean, Sum };

// (input - target)²; input and target must have the same shape (no silent broadcasting:
// a [N] prediction against a [N, 1] target is an error, not an [N, N] loss).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);

// |input - target|; the gradient is sign(input - target), 0 where they are equal.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean);

// Cross-entropy of logits against integer class labels:
//   logits [N, C] with target [N], or logits [N, C, d1, ...] with target [N, d1, ...]
//   (or unbatched: logits [C] with a 0-d target); target is int64 in [0, C).
//   loss = -(1 - ε) log p[target] - (ε / C) Σ_c log p[c],   log p = log_softmax(logits, 1),
// ε = label_smoothing in [0, 1] (0: plain negative log-likelihood). None returns [N, d1, ...].
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::Mean,
                     double label_smoothing = 0.0);

}  // namespace kiln
