// Normalisation ops (autograd/ops/norm.h): values against plain float64 loops (mean and
// biased variance per group / row / channel), BatchNorm's running statistics after known
// batches, float32 against float64 (also on sizes large enough to run the OpenMP paths),
// gradient checks of every variant, and the errors.
#include "autograd/ops/norm.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

using V = const std::vector<Tensor>&;
using Vec = std::vector<double>;

Tensor randn64(const Shape& shape, Generator& gen) {
  return Tensor::randn(shape, {.dtype = kFloat64}, &gen);
}

Tensor leaf(const Tensor& x) {
  Tensor l = x.detach();
  l.requires_grad_(true);
  return l;
}

void check_close(const Vec& got, const Vec& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": got ", got[i], ", want ", want[i]);
    CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

// Mean and biased variance of the values at `idx` in x.
void stats(const Vec& x, const std::vector<std::int64_t>& idx, double& mean, double& var) {
  mean = 0;
  for (auto i : idx) mean += x[i];
  mean /= static_cast<double>(idx.size());
  var = 0;
  for (auto i : idx) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(idx.size());
}

// x (N, C, S) row-major; empty w / b = no affine.
Vec ref_group_norm(const Vec& x, std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t G,
                   const Vec& w, const Vec& b, double eps) {
  Vec y(x.size());
  const std::int64_t cpg = C / G;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t g = 0; g < G; ++g) {
      std::vector<std::int64_t> idx;
      for (std::int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (std::int64_t s = 0; s < S; ++s) idx.push_back((n * C + c) * S + s);
      double mean, var;
      stats(x, idx, mean, var);
      for (auto i : idx) {
        const std::int64_t c = (i / S) % C;
        const double xhat = (x[i] - mean) / std::sqrt(var + eps);
        y[i] = xhat * (w.empty() ? 1.0 : w[c]) + (b.empty() ? 0.0 : b[c]);
      }
    }
  }
  return y;
}

// x (M, K) row-major.
Vec ref_layer_norm(const Vec& x, std::int64_t M, std::int64_t K, const Vec& w, const Vec& b,
                   double eps) {
  Vec y(x.size());
  for (std::int64_t m = 0; m < M; ++m) {
    std::vector<std::int64_t> idx;
    for (std::int64_t k = 0; k < K; ++k) idx.push_back(m * K + k);
    double mean, var;
    stats(x, idx, mean, var);
    for (std::int64_t k = 0; k < K; ++k) {
      const double xhat = (x[m * K + k] - mean) / std::sqrt(var + eps);
      y[m * K + k] = xhat * (w.empty() ? 1.0 : w[k]) + (b.empty() ? 0.0 : b[k]);
    }
  }
  return y;
}

// x (N, C, S); training uses batch statistics, otherwise rm / rv.
Vec ref_batch_norm(const Vec& x, std::int64_t N, std::int64_t C, std::int64_t S, const Vec& w,
                   const Vec& b, bool training, const Vec& rm, const Vec& rv, double eps) {
  Vec y(x.size());
  for (std::int64_t c = 0; c < C; ++c) {
    std::vector<std::int64_t> idx;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t s = 0; s < S; ++s) idx.push_back((n * C + c) * S + s);
    double mean, var;
    if (training) {
      stats(x, idx, mean, var);
    } else {
      mean = rm[c];
      var = rv[c];
    }
    for (auto i : idx) {
      const double xhat = (x[i] - mean) / std::sqrt(var + eps);
      y[i] = xhat * (w.empty() ? 1.0 : w[c]) + (b.empty() ? 0.0 : b[c]);
    }
  }
  return y;
}

Vec values(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

// ---- group norm ---------------------------------------------------------------------

TEST_CASE("group_norm: values against a float64 reference, with and without affine") {
  Generator gen(1);
  const std::int64_t N = 2, C = 6, G = 3;
  const Tensor x = randn64({N, C, 3, 2}, gen) * 2.0 + 0.5;
  const Tensor w = randn64({C}, gen), b = randn64({C}, gen);
  const Vec xv = values(x);
  check_close(values(group_norm(x, G, w, b)),
              ref_group_norm(xv, N, C, 6, G, values(w), values(b), 1e-5), 1e-12);
  check_close(values(group_norm(x, G)), ref_group_norm(xv, N, C, 6, G, {}, {}, 1e-5), 1e-12);
  check_close(values(group_norm(x, G, w, {}, 0.1)),
              ref_group_norm(xv, N, C, 6, G, values(w), {}, 0.1), 1e-12);
  // One group is layer norm over (C, *); C groups is instance norm.
  check_close(values(group_norm(x, 1)), ref_group_norm(xv, N, C, 6, 1, {}, {}, 1e-5), 1e-12);
  check_close(values(group_norm(x, C)), ref_group_norm(xv, N, C, 6, C, {}, {}, 1e-5), 1e-12);
  // [N, C] input (no spatial dims) and a non-contiguous one.
  const Tensor x2 = randn64({4, 6}, gen);
  check_close(values(group_norm(x2, 2)), ref_group_norm(values(x2), 4, 6, 1, 2, {}, {}, 1e-5),
              1e-12);
  const Tensor xt = randn64({2, 3, 6}, gen).permute({0, 2, 1});  // [2, 6, 3], strided
  REQUIRE_FALSE(xt.is_contiguous());
  check_close(values(group_norm(xt, 3, w, b)),
              ref_group_norm(values(xt), 2, 6, 3, 3, values(w), values(b), 1e-5), 1e-12);
}

TEST_CASE("group_norm: float32 matches float64, also on the multi-threaded path") {
  Generator gen(2);
  // 4·32·16·16 = 32768 elements: above the kernels' OpenMP threshold.
  const Tensor x = randn64({4, 32, 16, 16}, gen) + 3.0;
  const Tensor w = randn64({32}, gen), b = randn64({32}, gen), dy = randn64({4, 32, 16, 16}, gen);
  auto run = [&](DType dt) {
    Tensor xl = leaf(x.to(dt)), wl = leaf(w.to(dt)), bl = leaf(b.to(dt));
    Tensor y = group_norm(xl, 8, wl, bl);
    y.backward(dy.to(dt));
    return std::vector<Vec>{values(y), values(xl.grad()), values(wl.grad()), values(bl.grad())};
  };
  const auto f64 = run(kFloat64), f32 = run(kFloat32);
  check_close(f64[0], ref_group_norm(values(x), 4, 32, 256, 8, values(w), values(b), 1e-5), 1e-10);
  for (int i = 0; i < 4; ++i) check_close(f32[i], f64[i], 2e-4);
}

TEST_CASE("group_norm: gradcheck with and without affine") {
  Generator gen(3);
  const Tensor x = leaf(randn64({2, 4, 3}, gen));
  const Tensor w = leaf(randn64({4}, gen)), b = leaf(randn64({4}, gen));
  auto affine = gradcheck([](V in) { return group_norm(in[0], 2, in[1], in[2]); }, {x, w, b});
  INFO(affine.message);
  CHECK(affine.ok);
  auto plain = gradcheck([](V in) { return group_norm(in[0], 2); }, {x});
  INFO(plain.message);
  CHECK(plain.ok);
  // Weight only, spatial dims 2-D, and a non-contiguous input.
  const Tensor xs = leaf(randn64({2, 2, 3, 4}, gen).permute({0, 3, 2, 1}));  // [2, 4, 3, 2]
  auto strided = gradcheck([](V in) { return group_norm(in[0], 4, in[1]); }, {xs, w});
  INFO(strided.message);
  CHECK(strided.ok);
}

TEST_CASE("group_norm: gradients only for the inputs that require them") {
  Generator gen(4);
  const Tensor x = randn64({2, 4, 3}, gen);  // no grad
  Tensor w = leaf(randn64({4}, gen));
  Tensor b = randn64({4}, gen);  // no grad
  group_norm(x, 2, w, b).sum().backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().shape() == Shape{4});
  // d/dw Σ y = Σ xhat per channel, and Σ over a whole group of xhat is 0.
  const Vec gw = values(w.grad());
  CHECK(std::abs(gw[0] + gw[1]) < 1e-9);
  CHECK(std::abs(gw[2] + gw[3]) < 1e-9);
}

TEST_CASE("group_norm: errors name the op and the shapes") {
  const Tensor x = Tensor::zeros({2, 6, 4}, {.dtype = kFloat64});
  CHECK_THROWS_WITH_AS(group_norm(x, 4), doctest::Contains("group_norm: 6 channels"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 0), doctest::Contains("[2, 6, 4]"), Error);
  CHECK_THROWS_WITH_AS(group_norm(Tensor::zeros({6}), 2), doctest::Contains("[N, C, *]"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 3, Tensor::ones({3}, {.dtype = kFloat64})),
                       doctest::Contains("weight must have shape [6]"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 3, Tensor::ones({6})), doctest::Contains("dtype float32"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(Tensor::zeros({2, 6}, {.dtype = kInt64}), 3),
                       doctest::Contains("group_norm: expects a floating dtype"), Error);
}

// ---- layer norm ---------------------------------------------------------------------

TEST_CASE("layer_norm: values against a float64 reference over one and two trailing dims") {
  Generator gen(5);
  const Tensor x = randn64({2, 3, 4, 5}, gen) * 3.0 - 1.0;
  const Tensor w1 = randn64({5}, gen), b1 = randn64({5}, gen);
  check_close(values(layer_norm(x, {5}, w1, b1)),
              ref_layer_norm(values(x), 24, 5, values(w1), values(b1), 1e-5), 1e-12);
  check_close(values(layer_norm(x, {5})), ref_layer_norm(values(x), 24, 5, {}, {}, 1e-5), 1e-12);
  const Tensor w2 = randn64({4, 5}, gen), b2 = randn64({4, 5}, gen);
  check_close(values(layer_norm(x, {4, 5}, w2, b2, 1e-3)),
              ref_layer_norm(values(x), 6, 20, values(w2), values(b2), 1e-3), 1e-12);
  const Tensor b3 = randn64({3, 4, 5}, gen);
  check_close(values(layer_norm(x, {3, 4, 5}, {}, b3)),
              ref_layer_norm(values(x), 2, 60, {}, values(b3), 1e-5), 1e-12);
  const Tensor xt = randn64({5, 3}, gen).t();  // [3, 5], strided
  check_close(values(layer_norm(xt, {5}, w1, b1)),
              ref_layer_norm(values(xt), 3, 5, values(w1), values(b1), 1e-5), 1e-12);
}

TEST_CASE("layer_norm: float32 matches float64, also on the multi-threaded path") {
  Generator gen(6);
  const Tensor x = randn64({64, 300}, gen) * 0.1 + 5.0;  // a large mean: a stability test
  const Tensor w = randn64({300}, gen), b = randn64({300}, gen), dy = randn64({64, 300}, gen);
  auto run = [&](DType dt) {
    Tensor xl = leaf(x.to(dt)), wl = leaf(w.to(dt)), bl = leaf(b.to(dt));
    Tensor y = layer_norm(xl, {300}, wl, bl);
    y.backward(dy.to(dt));
    return std::vector<Vec>{values(y), values(xl.grad()), values(wl.grad()), values(bl.grad())};
  };
  const auto f64 = run(kFloat64), f32 = run(kFloat32);
  check_close(f64[0], ref_layer_norm(values(x), 64, 300, values(w), values(b), 1e-5), 1e-10);
  check_close(f32[0], f64[0], 1e-4);
  check_close(f32[1], f64[1], 5e-3);  // dx carries 1/σ = 10 and the float32 input rounding
  check_close(f32[2], f64[2], 1e-3);
  check_close(f32[3], f64[3], 1e-4);
}

TEST_CASE("layer_norm: gradcheck with and without affine") {
  Generator gen(7);
  const Tensor x = leaf(randn64({3, 2, 4}, gen));
  const Tensor w = leaf(randn64({2, 4}, gen)), b = leaf(randn64({2, 4}, gen));
  auto affine = gradcheck([](V in) { return layer_norm(in[0], {2, 4}, in[1], in[2]); }, {x, w, b});
  INFO(affine.message);
  CHECK(affine.ok);
  auto plain = gradcheck([](V in) { return layer_norm(in[0], {4}); }, {x});
  INFO(plain.message);
  CHECK(plain.ok);
  const Tensor b4 = leaf(randn64({4}, gen));
  auto bias_only = gradcheck([](V in) { return layer_norm(in[0], {4}, {}, in[1]); }, {x, b4});
  INFO(bias_only.message);
  CHECK(bias_only.ok);
}

TEST_CASE("layer_norm: errors name the op and the shapes") {
  const Tensor x = Tensor::zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(layer_norm(x, {3}), doctest::Contains("layer_norm: normalized_shape [3]"),
                       Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {2, 3, 4, 5}), doctest::Contains("[2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {}), doctest::Contains("at least one dim"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3, 4}, Tensor::ones({4})),
                       doctest::Contains("weight must have shape [3, 4]"), Error);
}

// ---- batch norm ---------------------------------------------------------------------

TEST_CASE("batch_norm: training values and running statistics after known batches") {
  // x [N=2, C=2, S=2]. Channel 0 holds {1, 2, 3, 6}: mean 3, Σ(x - mean)² = 14, so the
  // biased var is 3.5 (used to normalise) and the unbiased 14/3 (running update).
  // Channel 1 holds {0, 0, 0, 4}: mean 1, Σ(x - mean)² = 12, biased 3, unbiased 4.
  const Tensor x = Tensor::from_vector(Vec{1, 2, 0, 0, 3, 6, 0, 4}, {2, 2, 2}, {.dtype = kFloat64});
  Tensor rm = Tensor::zeros({2}, {.dtype = kFloat64});
  Tensor rv = Tensor::ones({2}, {.dtype = kFloat64});
  const double eps = 1e-5;
  const Tensor y = batch_norm(x, rm, rv, {}, {}, /*training=*/true, 0.1, eps);
  const double s0 = 1 / std::sqrt(3.5 + eps), s1 = 1 / std::sqrt(3.0 + eps);
  check_close(values(y), {-2 * s0, -1 * s0, -1 * s1, -1 * s1, 0 * s0, 3 * s0, -1 * s1, 3 * s1},
              1e-12);
  // running = 0.9 · running + 0.1 · batch (unbiased var for the running var).
  check_close(values(rm), {0.3, 0.1}, 1e-12);
  check_close(values(rv), {0.9 + 0.1 * 14.0 / 3.0, 0.9 + 0.1 * 4.0}, 1e-12);

  // A second batch: channel 0 {2, 2, 4, 4} (mean 3, unbiased 4/3), channel 1 {1, 1, 1, 1}
  // (mean 1, var 0), momentum 0.5.
  const Tensor x2 =
      Tensor::from_vector(Vec{2, 2, 1, 1, 4, 4, 1, 1}, {2, 2, 2}, {.dtype = kFloat64});
  const Tensor y2 = batch_norm(x2, rm, rv, {}, {}, true, 0.5, eps);
  check_close(values(rm), {0.5 * 0.3 + 0.5 * 3, 0.5 * 0.1 + 0.5 * 1}, 1e-12);
  check_close(values(rv), {0.5 * (0.9 + 1.4 / 3.0) + 0.5 * 4.0 / 3.0, 0.5 * 1.3 + 0.0}, 1e-12);
  check_close(values(y2), ref_batch_norm(values(x2), 2, 2, 2, {}, {}, true, {}, {}, eps), 1e-12);

  // Non-contiguous running buffers are updated too (through a copy written back).
  Tensor buf = Tensor::zeros({2, 2}, {.dtype = kFloat64});
  Tensor rm_strided = buf.select(1, 0), rv_strided = buf.select(1, 1);
  rv_strided.fill_(1);
  REQUIRE_FALSE(rm_strided.is_contiguous());
  batch_norm(x, rm_strided, rv_strided, {}, {}, true);
  check_close(values(buf), {0.3, 0.9 + 0.1 * 14.0 / 3.0, 0.1, 1.3}, 1e-12);
}

TEST_CASE("batch_norm: values against a float64 reference, training and inference") {
  Generator gen(8);
  const Tensor x = randn64({3, 4, 2, 3}, gen) * 2.0 + 1.0;
  const Tensor w = randn64({4}, gen), b = randn64({4}, gen);
  const Tensor rm = randn64({4}, gen), rv = randn64({4}, gen).abs() + 0.5;
  const Vec rm0 = values(rm), rv0 = values(rv);
  check_close(values(batch_norm(x, {}, {}, w, b, true)),
              ref_batch_norm(values(x), 3, 4, 6, values(w), values(b), true, {}, {}, 1e-5), 1e-12);
  // Inference: running statistics, which stay unchanged.
  check_close(values(batch_norm(x, rm, rv, w, b, false)),
              ref_batch_norm(values(x), 3, 4, 6, values(w), values(b), false, rm0, rv0, 1e-5),
              1e-12);
  check_close(values(batch_norm(x, rm, rv, {}, {}, false, 0.1, 1e-3)),
              ref_batch_norm(values(x), 3, 4, 6, {}, {}, false, rm0, rv0, 1e-3), 1e-12);
  check_close(values(rm), rm0, 0);
  check_close(values(rv), rv0, 0);
  // [N, C] input (BatchNorm1d), strided.
  const Tensor x2 = randn64({4, 5}, gen).t();  // [N=5, C=4], strided
  check_close(values(batch_norm(x2, {}, {}, {}, {}, true)),
              ref_batch_norm(values(x2), 5, 4, 1, {}, {}, true, {}, {}, 1e-5), 1e-12);
}

TEST_CASE("batch_norm: float32 matches float64, also on the multi-threaded path") {
  Generator gen(9);
  const Tensor x = randn64({16, 8, 12, 12}, gen) + 2.0;
  const Tensor w = randn64({8}, gen), b = randn64({8}, gen), dy = randn64({16, 8, 12, 12}, gen);
  for (bool training : {true, false}) {
    auto run = [&](DType dt) {
      Tensor xl = leaf(x.to(dt)), wl = leaf(w.to(dt)), bl = leaf(b.to(dt));
      Tensor rm = Tensor::full({8}, 1.5, {.dtype = dt}), rv = Tensor::full({8}, 2.0, {.dtype = dt});
      Tensor y = batch_norm(xl, rm, rv, wl, bl, training);
      y.backward(dy.to(dt));
      return std::vector<Vec>{values(y),         values(xl.grad()), values(wl.grad()),
                              values(bl.grad()), values(rm),        values(rv)};
    };
    const auto f64 = run(kFloat64), f32 = run(kFloat32);
    INFO("training ", training);
    for (int i = 0; i < 6; ++i) check_close(f32[i], f64[i], 2e-4);
  }
}

TEST_CASE("batch_norm: gradcheck in training (with and without affine) and inference") {
  Generator gen(10);
  const Tensor x = leaf(randn64({3, 2, 4}, gen));
  const Tensor w = leaf(randn64({2}, gen)), b = leaf(randn64({2}, gen));
  Tensor rm = Tensor::zeros({2}, {.dtype = kFloat64}), rv = Tensor::ones({2}, {.dtype = kFloat64});
  auto train_affine =
      gradcheck([&](V in) { return batch_norm(in[0], rm, rv, in[1], in[2], true); }, {x, w, b});
  INFO(train_affine.message);
  CHECK(train_affine.ok);
  auto train_plain = gradcheck([](V in) { return batch_norm(in[0], {}, {}, {}, {}, true); }, {x});
  INFO(train_plain.message);
  CHECK(train_plain.ok);
  const Tensor x2 = leaf(randn64({5, 3}, gen));  // [N, C]
  auto train_2d = gradcheck([](V in) { return batch_norm(in[0], {}, {}, {}, {}, true); }, {x2});
  INFO(train_2d.message);
  CHECK(train_2d.ok);
  const Tensor erm = randn64({2}, gen), erv = randn64({2}, gen).abs() + 0.5;
  auto eval =
      gradcheck([&](V in) { return batch_norm(in[0], erm, erv, in[1], in[2], false); }, {x, w, b});
  INFO(eval.message);
  CHECK(eval.ok);
  auto eval_plain =
      gradcheck([&](V in) { return batch_norm(in[0], erm, erv, {}, {}, false); }, {x});
  INFO(eval_plain.message);
  CHECK(eval_plain.ok);
}

TEST_CASE("batch_norm: errors name the op and the shapes") {
  const Tensor x = Tensor::zeros({1, 3});
  CHECK_THROWS_WITH_AS(batch_norm(x, {}, {}, {}, {}, true),
                       doctest::Contains("expected more than 1 value per channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({2, 3}), {}, {}, {}, {}, false),
                       doctest::Contains("batch_norm: running_mean and running_var are required"),
                       Error);
  CHECK_THROWS_WITH_AS(
      batch_norm(Tensor::zeros({2, 3}), Tensor::zeros({4}), Tensor::ones({4}), {}, {}, true),
      doctest::Contains("running_mean must have shape [3] for x of shape [2, 3], got [4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({2, 3}), Tensor::zeros({3}), {}, {}, {}, true),
                       doctest::Contains("given together"), Error);
}
