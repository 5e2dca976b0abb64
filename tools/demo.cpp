// kiln-demo: the smallest end-to-end use of the core. A two-layer network learns
// y = sin(3x) on [-1, 1] with tensors, autograd and plain gradient descent, printing
// the loss as it falls. (The full `kiln` program replaces this as the main job.)
#include <cstdio>

#include "kiln.h"

using namespace kiln;

int main() {
  manual_seed(0);
  const Tensor x = Tensor::linspace(-1, 1, 256).reshape({256, 1});
  const Tensor y = (x * 3.0).sin();

  // Parameters: 1 -> 64 -> 1, tanh hidden layer.
  Tensor w1 = (Tensor::randn({1, 64}) * 1.0).requires_grad_();
  Tensor b1 = Tensor::zeros({64}, {.requires_grad = true});
  Tensor w2 = (Tensor::randn({64, 1}) * 0.125).requires_grad_();
  Tensor b2 = Tensor::zeros({1}, {.requires_grad = true});
  std::vector<Tensor*> params = {&w1, &b1, &w2, &b2};

  const double lr = 0.1;
  double first = 0, last = 0;
  for (int step = 0; step <= 2000; ++step) {
    const Tensor hidden = (x.matmul(w1) + b1).tanh();
    const Tensor pred = hidden.matmul(w2) + b2;
    const Tensor loss = (pred - y).square().mean();
    loss.backward();
    {
      NoGradGuard no_grad;  // the update itself is not part of the model
      for (Tensor* p : params) {
        p->copy_(*p - lr * p->grad());
        p->set_grad({});
      }
    }
    last = loss.item();
    if (step == 0) first = last;
    if (step % 250 == 0) std::printf("step %4d  loss %.6f\n", step, last);
  }
  std::printf("\nmean squared error: %.6f -> %.6f\n", first, last);
  std::printf("w2[:4] after training:\n%s\n", w2.slice(0, 0, 4).detach().str().c_str());
  return last < first * 0.1 ? 0 : 1;
}
