// Attention (autograd/ops/attention.h) and dropout (autograd/ops/dropout.h): values
// against plain float64 loops, masking (a masked key gets exactly zero weight and zero
// gradient), gradient checks, and the errors.
#include "autograd/ops/attention.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "autograd/ops/dropout.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

using V = const std::vector<Tensor>&;
using Vec = std::vector<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

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
    CHECK((got[i] == want[i] || std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i]))));
  }
}

// q (B, Lq, D), k (B, Lk, D), v (B, Lk, Dv) row-major; mask (Lq, Lk) additive or empty.
Vec ref_attention(const Vec& q, const Vec& k, const Vec& v, std::int64_t B, std::int64_t Lq,
                  std::int64_t Lk, std::int64_t D, std::int64_t Dv, const Vec& mask, double scale) {
  Vec out(static_cast<size_t>(B * Lq * Dv), 0.0);
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t i = 0; i < Lq; ++i) {
      Vec s(static_cast<size_t>(Lk));
      double m = -kInf;
      for (std::int64_t j = 0; j < Lk; ++j) {
        double dot = 0;
        for (std::int64_t d = 0; d < D; ++d)
          dot += q[(b * Lq + i) * D + d] * k[(b * Lk + j) * D + d];
        s[j] = dot * scale + (mask.empty() ? 0.0 : mask[i * Lk + j]);
        m = std::max(m, s[j]);
      }
      double z = 0;
      for (std::int64_t j = 0; j < Lk; ++j) z += std::exp(s[j] - m);
      for (std::int64_t j = 0; j < Lk; ++j) {
        const double p = std::exp(s[j] - m) / z;
        for (std::int64_t e = 0; e < Dv; ++e)
          out[(b * Lq + i) * Dv + e] += p * v[(b * Lk + j) * Dv + e];
      }
    }
  }
  return out;
}

Vec values(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

// ---- scaled_dot_product_attention ----------------------------------------------------

TEST_CASE("scaled_dot_product_attention: values against a float64 reference") {
  Generator gen(1);
  const std::int64_t B = 2, Lq = 3, Lk = 5, D = 4, Dv = 6;
  const Tensor q = randn64({B, Lq, D}, gen), k = randn64({B, Lk, D}, gen),
               v = randn64({B, Lk, Dv}, gen);
  const Tensor out = scaled_dot_product_attention(q, k, v);
  CHECK(out.shape() == Shape{B, Lq, Dv});
  check_close(values(out),
              ref_attention(values(q), values(k), values(v), B, Lq, Lk, D, Dv, {}, 0.5), 1e-12);
  // An explicit scale, and a mask mixing 0, finite biases and -inf.
  const Vec mask = {0, -kInf, 0.5, 0, -1, -kInf, 0, 0, -kInf, 2, 0, 0, 0, 0, -kInf};
  const Tensor m = Tensor::from_vector(mask, {Lq, Lk}, {.dtype = kFloat64});
  check_close(values(scaled_dot_product_attention(q, k, v, m, 0.3)),
              ref_attention(values(q), values(k), values(v), B, Lq, Lk, D, Dv, mask, 0.3), 1e-12);
  // float32 agrees with float64; strided inputs (k as a transposed view).
  const Tensor kt = randn64({B, D, Lk}, gen).transpose(1, 2);
  check_close(values(scaled_dot_product_attention(q.to(kFloat32), kt.to(kFloat32), v.to(kFloat32))),
              values(scaled_dot_product_attention(q, kt, v)), 1e-5);
  check_close(values(scaled_dot_product_attention(q, kt, v)),
              ref_attention(values(q), values(kt), values(v), B, Lq, Lk, D, Dv, {}, 0.5), 1e-12);
}

TEST_CASE("scaled_dot_product_attention: batch dims broadcast, heads included") {
  Generator gen(2);
  // q [2, 3 heads, 4, 8], k and v shared across the batch: [1, 3, 5, 8].
  const Tensor q = randn64({2, 3, 4, 8}, gen), k = randn64({1, 3, 5, 8}, gen),
               v = randn64({1, 3, 5, 2}, gen);
  const Tensor out = scaled_dot_product_attention(q, k, v);
  CHECK(out.shape() == Shape{2, 3, 4, 2});
  for (std::int64_t b = 0; b < 2; ++b) {
    const Tensor one = scaled_dot_product_attention(q.select(0, b), k.select(0, 0), v.select(0, 0));
    check_close(values(out.select(0, b)), values(one), 1e-12);
  }
}

TEST_CASE("scaled_dot_product_attention: a masked key gets zero weight and zero gradient") {
  Generator gen(3);
  const Tensor q = leaf(randn64({2, 3, 4}, gen)), k = leaf(randn64({2, 5, 4}, gen));
  Tensor v = leaf(randn64({2, 5, 3}, gen));
  // Key 2 is masked for every query (0/1 keep-mask -> additive).
  const Tensor keep =
      Tensor::from_vector(std::vector<std::int64_t>{1, 1, 0, 1, 1}, {1, 5}, {.dtype = kInt64});
  const Tensor mask = additive_attention_mask(keep, kFloat64);
  check_close(values(mask), {0, 0, -kInf, 0, 0}, 0);
  const Tensor out = scaled_dot_product_attention(q, k, v, mask);
  // Changing v's masked row changes nothing: its weight is exactly zero.
  Tensor v2 = v.detach().clone();
  v2.narrow(1, 2, 1).fill_(1e6);
  check_close(values(scaled_dot_product_attention(q.detach(), k.detach(), v2, mask)), values(out),
              1e-14);
  // Equivalent to dropping key 2 altogether.
  const Tensor kept =
      Tensor::from_vector(std::vector<std::int64_t>{0, 1, 3, 4}, {4}, {.dtype = kInt64});
  check_close(
      values(scaled_dot_product_attention(q, k.index_select(1, kept), v.index_select(1, kept))),
      values(out), 1e-12);
  // Gradients: the masked key and value get exactly zero.
  out.backward(Tensor::ones_like(out));
  for (std::int64_t b = 0; b < 2; ++b) {
    for (double g : values(v.grad().select(0, b).select(0, 2))) CHECK(g == 0.0);
    for (double g : values(k.grad().select(0, b).select(0, 2))) CHECK(g == 0.0);
  }
  // A query with every key masked has no distribution: NaN (Note [Attention masks]).
  const Tensor none = Tensor::full({3, 5}, -kInf, {.dtype = kFloat64});
  for (double o : values(scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), none)))
    CHECK(std::isnan(o));
}

TEST_CASE("scaled_dot_product_attention: gradcheck without and with a mask") {
  Generator gen(4);
  const Tensor q = leaf(randn64({2, 3, 4}, gen)), k = leaf(randn64({2, 5, 4}, gen)),
               v = leaf(randn64({2, 5, 2}, gen));
  auto plain =
      gradcheck([](V in) { return scaled_dot_product_attention(in[0], in[1], in[2]); }, {q, k, v});
  INFO(plain.message);
  CHECK(plain.ok);
  const Tensor mask =
      Tensor::from_vector(Vec{0, -kInf, 0.5, 0, -1, -kInf, 0, 0, -kInf, 2, 0, 0, 0, 0, -kInf},
                          {3, 5}, {.dtype = kFloat64});
  auto masked =
      gradcheck([&](V in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.7); },
                {q, k, v});
  INFO(masked.message);
  CHECK(masked.ok);
  auto causal = gradcheck(
      [](V in) {
        return scaled_dot_product_attention(in[0], in[1], in[2],
                                            causal_attention_mask(3, 5, kFloat64));
      },
      {q, k, v});
  INFO(causal.message);
  CHECK(causal.ok);
  // A float mask that requires grad gets one too (it is added to the scores).
  const Tensor bias = leaf(randn64({3, 5}, gen));
  auto learned =
      gradcheck([](V in) { return scaled_dot_product_attention(in[0], in[1], in[2], in[3]); },
                {q, k, v, bias});
  INFO(learned.message);
  CHECK(learned.ok);
}

TEST_CASE("scaled_dot_product_attention: mask helpers") {
  check_close(values(causal_attention_mask(3, 3, kFloat64)),
              {0, -kInf, -kInf, 0, 0, -kInf, 0, 0, 0}, 0);
  check_close(values(causal_attention_mask(2, 3)), {0, -kInf, -kInf, 0, 0, -kInf}, 0);
  CHECK(causal_attention_mask(2, 3).dtype() == kFloat32);
  const Tensor keep = Tensor::tensor({{1.0, 0.0}, {0.5, 1.0}});
  check_close(values(additive_attention_mask(keep)), {0, -kInf, 0, 0}, 0);
}

TEST_CASE("scaled_dot_product_attention: errors name the op and the shapes") {
  const Tensor q = Tensor::zeros({2, 3, 4}), k = Tensor::zeros({2, 5, 4}),
               v = Tensor::zeros({2, 5, 6});
  CHECK_THROWS_WITH_AS(
      scaled_dot_product_attention(q, Tensor::zeros({2, 5, 3}), v),
      doctest::Contains("scaled_dot_product_attention: q [2, 3, 4] and k [2, 5, 3]"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, Tensor::zeros({2, 4, 6})),
                       doctest::Contains("same number of keys"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, Tensor::zeros({3, 4})),
                       doctest::Contains("mask of shape [3, 4] does not broadcast to the scores' "
                                         "shape [2, 3, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      scaled_dot_product_attention(q, k, v, Tensor::zeros({3, 5}, {.dtype = kInt64})),
      doctest::Contains("additive_attention_mask"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, Tensor::zeros({3, 3, 3, 5})),
                       doctest::Contains("does not broadcast"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, Tensor::zeros({3, 5, 4}), v),
                       doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(Tensor::zeros({4}), k, v),
                       doctest::Contains("at least 2 dims"), Error);
}

// ---- dropout ------------------------------------------------------------------------

TEST_CASE("dropout: identity when not training or p == 0") {
  const Tensor x = Tensor::ones({4, 5});
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK(dropout(x, 0.0, true).is_same(x));
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true),
                       doctest::Contains("dropout: probability p must be in [0, 1], got 1.5"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, false), doctest::Contains("dropout"), Error);
  for (double o : values(dropout(x, 1.0, true))) CHECK(o == 0.0);
}

TEST_CASE("dropout: drops a fraction p and scales survivors by 1 / (1 - p)") {
  Generator gen(5);
  const std::int64_t n = 200000;
  const double p = 0.3;
  const Tensor out = dropout(Tensor::ones({n}), p, true, &gen);
  std::int64_t zeros = 0;
  for (double o : values(out)) {
    if (o == 0.0) {
      ++zeros;
    } else {
      CHECK(std::abs(o - 1.0 / (1.0 - p)) < 1e-6);
    }
  }
  // Binomial: σ of the fraction is √(p(1-p)/n) ≈ 0.001; allow 5σ.
  CHECK(std::abs(static_cast<double>(zeros) / n - p) < 0.005);
  CHECK(std::abs(out.mean().item() - 1.0) < 0.01);
}

TEST_CASE("dropout: the mask comes from the generator's Philox stream") {
  const Tensor x = Tensor::randn({1000});
  Generator a(42), b(42);
  const Vec first = values(dropout(x, 0.5, true, &a));
  CHECK(values(dropout(x, 0.5, true, &b)) == first);  // same state, same mask
  CHECK(values(dropout(x, 0.5, true, &a)) != first);  // the stream has moved on
  // keep = [u >= p] with u = Tensor::rand from the same stream.
  Generator c(42);
  const Vec u = values(Tensor::rand({1000}, {}, &c));
  const Vec xv = values(x);
  for (size_t i = 0; i < u.size(); ++i)
    CHECK(first[i] == (u[i] >= 0.5 ? static_cast<double>(static_cast<float>(xv[i] * 2.0f)) : 0.0));
}

TEST_CASE("dropout: the backward multiplies by the same mask") {
  Generator gen(6);
  Tensor x = leaf(randn64({6, 7}, gen));
  Generator g1(9);
  const Tensor y = dropout(x, 0.4, true, &g1);
  y.backward(Tensor::ones_like(y));
  const Vec gx = values(x.grad()), yv = values(y), xv = values(x);
  for (size_t i = 0; i < gx.size(); ++i) CHECK(std::abs(gx[i] * xv[i] - yv[i]) < 1e-12);
  // gradcheck: re-seed inside f so every evaluation draws the same mask.
  Generator g2(0);
  auto result = gradcheck(
      [&](V in) {
        g2.manual_seed(123);
        return dropout(in[0], 0.4, true, &g2);
      },
      {x});
  INFO(result.message);
  CHECK(result.ok);
}
