// Learning tests: the whole stack (layers, autograd, losses, optimizers) must actually
// fit small problems, with fixed seeds and stated targets.
//   XOR: a 2-16-2 MLP reaches 100% accuracy and cross-entropy < 0.01.
//   Bars: a small conv net (Conv2d + pooling + Linear) tells horizontal from vertical
//         bars in noisy 8x8 images with >= 95% accuracy on held-out images.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>

#include "autograd/ops/loss.h"
#include "kiln.h"

using namespace kiln;

namespace {

double accuracy(const Tensor& logits, const Tensor& labels) {
  const auto pred = logits.argmax(1).to_vector<std::int64_t>();
  const auto want = labels.to_vector<std::int64_t>();
  int right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == want[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

struct XorNet : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 16));
  std::shared_ptr<nn::Linear> fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 2));
  Tensor forward(const Tensor& x) override { return fc2->forward(fc1->forward(x).tanh()); }
};

// n images 1x8x8: label 0 = one horizontal bar (a random row), 1 = one vertical bar (a
// random column), brightness in [0.5, 1.5), plus N(0, 0.3²) noise everywhere.
std::pair<Tensor, Tensor> bars(std::int64_t n, Generator& gen) {
  const Tensor labels = Tensor::randint(0, 2, {n}, {.dtype = kInt64}, &gen);
  const Tensor where = Tensor::randint(0, 8, {n}, {.dtype = kInt64}, &gen);
  const Tensor bright = Tensor::rand({n}, {}, &gen) + 0.5;
  Tensor images = Tensor::randn({n, 1, 8, 8}, {}, &gen) * 0.3;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int64_t>(where.at({i}));
    for (std::int64_t j = 0; j < 8; ++j) {
      const std::vector<std::int64_t> px = labels.at({i}) == 0
                                               ? std::vector<std::int64_t>{i, 0, k, j}
                                               : std::vector<std::int64_t>{i, 0, j, k};
      images.set_at(px, images.at(px) + bright.at({i}));
    }
  }
  return {images, labels};
}

}  // namespace

TEST_CASE("learning: an MLP fits XOR (100% accuracy, loss < 0.01)") {
  manual_seed(0);
  XorNet net;
  const Tensor x = Tensor::tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
  const Tensor y =
      Tensor::from_vector(std::vector<std::int64_t>{0, 1, 1, 0}, {4}, {.dtype = kInt64});
  optim::Adam opt(net.parameters(), 0.05);
  double loss_value = 0;
  for (int step = 0; step < 500; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(net.forward(x), y);
    loss.backward();
    opt.step();
    loss_value = loss.item();
  }
  NoGradGuard no_grad;
  const Tensor logits = net.forward(x);
  MESSAGE("XOR: final cross-entropy " << loss_value);
  CHECK(accuracy(logits, y) == 1.0);
  CHECK(cross_entropy(logits, y).item() < 0.01);
}

TEST_CASE("learning: a conv net classifies horizontal vs vertical bars (>= 95% held out)") {
  const auto start = std::chrono::steady_clock::now();
  manual_seed(1);
  Generator data_gen(2024);
  const auto [train_x, train_y] = bars(512, data_gen);
  const auto [test_x, test_y] = bars(256, data_gen);

  auto net = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),   // 8x4x4
      std::make_shared<nn::Conv2d>(8, 16, 3, nn::Conv2dOptions{.padding = 1}),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::AvgPool2d>(2),   // 16x2x2
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(64, 2));
  optim::AdamW opt(net->parameters(), {.lr = 1e-2});
  const std::int64_t batch = 32;
  for (int epoch = 0; epoch < 4; ++epoch) {
    for (std::int64_t b = 0; b < train_x.size(0); b += batch) {
      const Tensor xb = train_x.narrow(0, b, batch);
      const Tensor yb = train_y.narrow(0, b, batch);
      opt.zero_grad();
      Tensor loss = cross_entropy(net->forward(xb), yb);
      loss.backward();
      optim::clip_grad_norm_(net->parameters(), 5.0);
      opt.step();
    }
  }
  net->eval();
  NoGradGuard no_grad;
  const double train_acc = accuracy(net->forward(train_x), train_y);
  const double test_acc = accuracy(net->forward(test_x), test_y);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("bars: train accuracy " << train_acc << ", held-out accuracy " << test_acc << " in "
                                  << seconds << " s");
  CHECK(test_acc >= 0.95);
}
