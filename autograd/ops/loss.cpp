// Losses (autograd/ops/loss.h), composed of differentiable ops so that their backward
// (and higher derivatives, where the parts have them) come for free:
//   mse_loss       square(input - target)
//   l1_loss        abs(input - target)              d/dx = sign(x - t), 0 at 0
//   cross_entropy  -gather(log_softmax(logits, 1))  the fused log_softmax kernel and its
//                                                   backward gx = gy - exp(y) Σ gy
#include "autograd/ops/loss.h"

#include "autograd/ops/common.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/reduce.h"

namespace kiln {

namespace {

Tensor reduce_loss(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None: return loss;
    case Reduction::Mean: return mean(loss);
    case Reduction::Sum: return sum(loss);
  }
  fail("loss: unknown reduction");
}

void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  ops::check_same(op, input, target);
  dispatch_floating(input.dtype(), op, []<class T>() {});
  KILN_CHECK(input.shape() == target.shape(), "{}: input {} and target {} must have the same shape",
             op, shape_str(input.shape()), shape_str(target.shape()));
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_pair("mse_loss", input, target);
  return reduce_loss(square(input - target), r);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_pair("l1_loss", input, target);
  return reduce_loss(abs(input - target), r);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r,
                     double label_smoothing) {
  const char* op = "cross_entropy";
  KILN_CHECK(logits.defined() && target.defined(), "{}: undefined tensor argument", op);
  dispatch_floating(logits.dtype(), op, []<class T>() {});
  KILN_CHECK(target.dtype() == DType::Int64,
             "cross_entropy: target must hold int64 class indices, got {} (logits {}, target {})",
             target.dtype(), shape_str(logits.shape()), shape_str(target.shape()));
  KILN_CHECK(target.device() == logits.device(),
             "cross_entropy: target is on {} but logits are on {}", target.device(),
             logits.device());
  KILN_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
             "cross_entropy: label_smoothing must be in [0, 1], got {}", label_smoothing);
  KILN_CHECK(logits.dim() >= 1, "cross_entropy: logits must be [N, C, ...] or [C], got shape {}",
             shape_str(logits.shape()));
  if (logits.dim() == 1) {  // unbatched: [C] against a 0-d target
    KILN_CHECK(target.dim() == 0,
               "cross_entropy: unbatched logits {} need a 0-d target, got target {}",
               shape_str(logits.shape()), shape_str(target.shape()));
    const Tensor loss =
        cross_entropy(logits.unsqueeze(0), target.reshape({1}), Reduction::None, label_smoothing)
            .reshape({});
    return reduce_loss(loss, r);
  }
  // target must be logits' shape without the class dim.
  Shape expected = logits.shape();
  const std::int64_t C = expected[1];
  expected.erase(expected.begin() + 1);
  KILN_CHECK(target.shape() == expected,
             "cross_entropy: logits {} (class dim 1 of size {}) need target of shape {}, got {}",
             shape_str(logits.shape()), C, shape_str(expected), shape_str(target.shape()));
  const Tensor t = target.detach().contiguous();
  const Tensor host = ops::host_contiguous(t);  // a GPU target is checked on the host
  const std::int64_t* p = host.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    KILN_CHECK(p[i] >= 0 && p[i] < C,
               "cross_entropy: target class {} out of range for {} classes (logits {}, target {})",
               p[i], C, shape_str(logits.shape()), shape_str(target.shape()));
  }

  const Tensor logp = log_softmax(logits, 1);                 // [N, C, d...]
  Tensor loss = -gather(logp, 1, t.unsqueeze(1)).squeeze(1);  // [N, d...]
  if (label_smoothing > 0.0) {
    const Tensor smooth = -sum(logp, {1}) / static_cast<double>(C);
    loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth;
  }
  return reduce_loss(loss, r);
}

}  // namespace kiln
