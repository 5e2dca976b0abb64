// Losses (autograd/ops/loss.h) and embedding (autograd/ops/embedding.h), the two ops that
// take integer class / token indices: values against plain float64 loops for every
// reduction, gradient checks, and the errors for bad indices and shapes.
#include "autograd/ops/loss.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/ops/embedding.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

using V = const std::vector<Tensor>&;
using Vec = std::vector<double>;
using Idx = std::vector<std::int64_t>;

Tensor randn64(const Shape& shape, Generator& gen) {
  return Tensor::randn(shape, {.dtype = kFloat64}, &gen);
}

Tensor leaf(const Tensor& x) {
  Tensor l = x.detach();
  l.requires_grad_(true);
  return l;
}

Tensor indices(const Idx& v, const Shape& shape) {
  return Tensor::from_vector(v, shape, {.dtype = kInt64});
}

void check_close(const Vec& got, const Vec& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": got ", got[i], ", want ", want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

Vec values(const Tensor& t) { return t.to_vector<double>(); }

// The per-element losses reduced as `r` would.
Vec reduced(const Vec& per, Reduction r) {
  if (r == Reduction::None) return per;
  double s = 0;
  for (double x : per) s += x;
  return {r == Reduction::Sum ? s : s / static_cast<double>(per.size())};
}

// logits (N, C, S), target (N, S): per (n, s) loss with label smoothing eps.
Vec ref_cross_entropy(const Vec& logits, const Idx& target, std::int64_t N, std::int64_t C,
                      std::int64_t S, double eps) {
  Vec out;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t s = 0; s < S; ++s) {
      auto at = [&](std::int64_t c) { return logits[(n * C + c) * S + s]; };
      double z = 0;
      for (std::int64_t c = 0; c < C; ++c) z += std::exp(at(c));
      const double logz = std::log(z);
      const double nll = logz - at(target[n * S + s]);
      double smooth = 0;
      for (std::int64_t c = 0; c < C; ++c) smooth += logz - at(c);
      out.push_back((1 - eps) * nll + eps * smooth / static_cast<double>(C));
    }
  }
  return out;
}

constexpr Reduction kAll[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

}  // namespace

// ---- mse_loss / l1_loss ---------------------------------------------------------------

TEST_CASE("mse_loss: values for every reduction") {
  Generator gen(1);
  const Tensor x = randn64({3, 4}, gen), t = randn64({3, 4}, gen);
  Vec per;
  const Vec xv = values(x), tv = values(t);
  for (size_t i = 0; i < xv.size(); ++i) per.push_back((xv[i] - tv[i]) * (xv[i] - tv[i]));
  for (Reduction r : kAll) check_close(values(mse_loss(x, t, r)), reduced(per, r), 1e-12);
  CHECK(mse_loss(x, t).dim() == 0);
  CHECK(mse_loss(x, t, Reduction::None).shape() == Shape{3, 4});
}

TEST_CASE("l1_loss: values for every reduction, gradient sign(x - t) and 0 at 0") {
  Generator gen(2);
  const Tensor x = randn64({2, 5}, gen), t = randn64({2, 5}, gen);
  Vec per;
  const Vec xv = values(x), tv = values(t);
  for (size_t i = 0; i < xv.size(); ++i) per.push_back(std::abs(xv[i] - tv[i]));
  for (Reduction r : kAll) check_close(values(l1_loss(x, t, r)), reduced(per, r), 1e-12);

  Tensor a = leaf(Tensor::tensor({1.0, 2.0, 3.0}, {.dtype = kFloat64}));
  Tensor b = leaf(Tensor::tensor({0.5, 2.0, 4.0}, {.dtype = kFloat64}));
  l1_loss(a, b, Reduction::Sum).backward();
  check_close(values(a.grad()), {1, 0, -1}, 0);
  check_close(values(b.grad()), {-1, 0, 1}, 0);
}

TEST_CASE("mse_loss and l1_loss: gradcheck for every reduction") {
  Generator gen(3);
  const Tensor x = leaf(randn64({3, 4}, gen));
  // target = x + an offset at least 0.3 away from 0, so l1 stays off its kink.
  const Tensor off = randn64({3, 4}, gen);
  const Tensor t = leaf(x.detach() + off.sign() * (off.abs() + 0.3));
  for (Reduction r : kAll) {
    auto mse = gradcheck([r](V in) { return mse_loss(in[0], in[1], r); }, {x, t});
    INFO("mse reduction ", static_cast<int>(r), ": ", mse.message);
    CHECK(mse.ok);
    auto l1 = gradcheck([r](V in) { return l1_loss(in[0], in[1], r); }, {x, t});
    INFO("l1 reduction ", static_cast<int>(r), ": ", l1.message);
    CHECK(l1.ok);
  }
}

TEST_CASE("mse_loss and l1_loss: errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(
      mse_loss(Tensor::zeros({4}), Tensor::zeros({4, 1})),
      doctest::Contains("mse_loss: input [4] and target [4, 1] must have the same shape"), Error);
  CHECK_THROWS_WITH_AS(l1_loss(Tensor::zeros({4}), Tensor::zeros({4}, {.dtype = kFloat64})),
                       doctest::Contains("l1_loss: dtypes float32 and float64 differ"), Error);
  CHECK_THROWS_WITH_AS(
      mse_loss(Tensor::zeros({4}, {.dtype = kInt64}), Tensor::zeros({4}, {.dtype = kInt64})),
      doctest::Contains("mse_loss: expects a floating dtype"), Error);
}

// ---- cross_entropy ---------------------------------------------------------------------

TEST_CASE("cross_entropy: values for [N, C] and [N, C, d1, d2], every reduction") {
  Generator gen(4);
  // Uniform logits: every class has probability 1/C, the loss is log C.
  check_close(
      values(cross_entropy(Tensor::zeros({2, 5}, {.dtype = kFloat64}), indices({0, 3}, {2}))),
      {std::log(5.0)}, 1e-12);
  const Tensor logits = randn64({4, 3}, gen) * 2.0;
  const Idx target = {2, 0, 1, 2};
  for (Reduction r : kAll) {
    check_close(values(cross_entropy(logits, indices(target, {4}), r)),
                reduced(ref_cross_entropy(values(logits), target, 4, 3, 1, 0.0), r), 1e-12);
  }
  const Tensor logits4 = randn64({2, 4, 3, 2}, gen);
  const Idx t4 = {0, 3, 1, 1, 2, 0, 3, 3, 2, 1, 0, 2};
  for (Reduction r : kAll) {
    const Tensor loss = cross_entropy(logits4, indices(t4, {2, 3, 2}), r);
    if (r == Reduction::None) CHECK(loss.shape() == Shape{2, 3, 2});
    check_close(values(loss), reduced(ref_cross_entropy(values(logits4), t4, 2, 4, 6, 0.0), r),
                1e-12);
  }
  // Unbatched: [C] logits with a 0-d target.
  const Tensor one = randn64({3}, gen);
  check_close(values(cross_entropy(one, indices({1}, {}))),
              ref_cross_entropy(values(one), {1}, 1, 3, 1, 0.0), 1e-12);
  // float32 agrees.
  check_close(values(cross_entropy(logits.to(kFloat32), indices(target, {4}))),
              values(cross_entropy(logits, indices(target, {4}))), 1e-6);
}

TEST_CASE("cross_entropy: label smoothing") {
  Generator gen(5);
  const Tensor logits = randn64({3, 4, 2}, gen);
  const Idx target = {0, 3, 2, 2, 1, 0};
  for (double eps : {0.1, 0.5, 1.0}) {
    for (Reduction r : kAll) {
      check_close(values(cross_entropy(logits, indices(target, {3, 2}), r, eps)),
                  reduced(ref_cross_entropy(values(logits), target, 3, 4, 2, eps), r), 1e-12);
    }
  }
}

TEST_CASE("cross_entropy: gradcheck for every reduction, with label smoothing and spatial dims") {
  Generator gen(6);
  const Tensor logits = leaf(randn64({4, 3}, gen));
  const Tensor target = indices({2, 0, 1, 2}, {4});
  for (Reduction r : kAll) {
    for (double eps : {0.0, 0.2}) {
      auto result = gradcheck([&](V in) { return cross_entropy(in[0], target, r, eps); }, {logits});
      INFO("reduction ", static_cast<int>(r), " smoothing ", eps, ": ", result.message);
      CHECK(result.ok);
    }
  }
  const Tensor logits3 = leaf(randn64({2, 3, 4}, gen));
  const Tensor target3 = indices({0, 1, 2, 2, 1, 1, 0, 2}, {2, 4});
  auto spatial = gradcheck(
      [&](V in) { return cross_entropy(in[0], target3, Reduction::Mean, 0.1); }, {logits3});
  INFO(spatial.message);
  CHECK(spatial.ok);
  // The gradient of the mean loss is (softmax - onehot) / N.
  Tensor l = leaf(Tensor::zeros({2, 2}, {.dtype = kFloat64}));
  cross_entropy(l, indices({0, 1}, {2})).backward();
  check_close(values(l.grad()), {-0.25, 0.25, 0.25, -0.25}, 1e-12);
}

TEST_CASE("cross_entropy: errors for bad classes and shapes") {
  const Tensor logits = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH_AS(cross_entropy(logits, indices({0, 1, 3, 2}, {4})),
                       doctest::Contains("cross_entropy: target class 3 out of range for 3 classes "
                                         "(logits [4, 3], target [4])"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, indices({0, -1, 2, 2}, {4})),
                       doctest::Contains("target class -1 out of range"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, indices({0, 1, 2}, {3})),
                       doctest::Contains("need target of shape [4], got [3]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({2, 3, 5}), indices({0, 1}, {2})),
                       doctest::Contains("need target of shape [2, 5]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::zeros({4})),
                       doctest::Contains("target must hold int64 class indices, got float32"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, indices({0, 1, 2, 2}, {4}), Reduction::Mean, 1.5),
                       doctest::Contains("label_smoothing must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({3}), indices({0}, {1})),
                       doctest::Contains("need a 0-d target"), Error);
}

// ---- embedding ---------------------------------------------------------------------------

TEST_CASE("embedding: values, any index shape") {
  Generator gen(7);
  const Tensor w = randn64({5, 3}, gen);
  const Idx idx = {4, 0, 2, 2, 1, 4};
  const Tensor out = embedding(w, indices(idx, {2, 3}));
  CHECK(out.shape() == Shape{2, 3, 3});
  const Vec wv = values(w);
  Vec want;
  for (auto i : idx)
    for (int d = 0; d < 3; ++d) want.push_back(wv[i * 3 + d]);
  check_close(values(out), want, 0);
  CHECK(embedding(w, indices({3}, {})).shape() == Shape{3});     // 0-d indices -> [D]
  CHECK(embedding(w, indices({}, {0})).shape() == Shape{0, 3});  // no indices
  // A strided weight (a transposed view).
  const Tensor wt = randn64({3, 5}, gen).t();
  Vec rows = values(wt.select(0, 1));
  const Vec row4 = values(wt.select(0, 4));
  rows.insert(rows.end(), row4.begin(), row4.end());
  check_close(values(embedding(wt, indices({1, 4}, {2}))), rows, 0);
}

TEST_CASE("embedding: the gradient sums over repeated indices") {
  Tensor w = leaf(Tensor::zeros({4, 2}, {.dtype = kFloat64}));
  const Tensor out = embedding(w, indices({1, 3, 1, 1}, {2, 2}));
  const Tensor g = Tensor::from_vector(Vec{1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}, {.dtype = kFloat64});
  out.backward(g);
  // Row 1 was looked up at positions 0, 2, 3; row 3 at position 1; rows 0 and 2 never.
  check_close(values(w.grad()), {0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 3, 4}, 0);
}

TEST_CASE("embedding: gradcheck") {
  Generator gen(8);
  const Tensor w = leaf(randn64({5, 3}, gen));
  const Tensor idx = indices({4, 0, 2, 2, 1, 4}, {3, 2});
  auto result = gradcheck([&](V in) { return embedding(in[0], idx); }, {w});
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("embedding: errors name the op and the shapes") {
  const Tensor w = Tensor::zeros({5, 3});
  CHECK_THROWS_WITH_AS(embedding(w, indices({0, 5}, {2})),
                       doctest::Contains("embedding: index 5 out of range for 5 embeddings "
                                         "(weight [5, 3], indices [2])"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(w, indices({-1}, {1})), doctest::Contains("index -1 out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(w, Tensor::zeros({2})),
                       doctest::Contains("embedding: indices must be int64, got float32"), Error);
  CHECK_THROWS_WITH_AS(embedding(Tensor::zeros({5}), indices({0}, {1})),
                       doctest::Contains("weight must be [num_embeddings, dim], got shape [5]"),
                       Error);
}
