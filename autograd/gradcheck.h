#pragma once
// gradcheck: compares autograd's gradients with central finite differences in float64.
//
// For f: inputs -> y, it draws a fixed random vector v shaped like y and checks the
// vector-Jacobian product  ∂(v·y)/∂x  for every element x of every input:
//   analytic  from one backward pass,
//   numeric   v·(f(x + ε) - f(x - ε)) / 2ε,
// and requires |analytic - numeric| ≤ atol + rtol·|numeric| everywhere. A random v
// exercises every output element at once, so one backward suffices however large y is.
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::autograd {

struct GradcheckResult {
  bool ok = true;
  std::string message;        // on failure: the input, the element, both values
  std::int64_t input = -1;    // worst input index
  std::int64_t element = -1;  // worst element (row-major index into that input)
  double analytic = 0, numeric = 0;
  double max_abs_error = 0;
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// The numeric side evaluates f under NoGradGuard; an f that itself differentiates
// (a second-order check through autograd::grad(..., create_graph=true)) must turn grad
// mode back on inside with autograd::GradModeGuard(true).
//
// Every input must be a float64 leaf with requires_grad, all on one device (CPU or GPU);
// it may be non-contiguous (permuted or sliced) but not self-overlapping (expand inside
// f instead).
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

}  // namespace kiln::autograd
