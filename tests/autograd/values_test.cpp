// Values of every element-wise, reduction, softmax and matmul op against independent
// float64 references written as plain loops over <cmath> (index ops: index_test.cpp).
// Inputs include non-contiguous views, so the strided kernel paths are checked too.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>

#include "kiln.h"

using namespace kiln;

namespace {

// Row-major multi-index <-> linear index helpers for the reference loops.
std::vector<std::int64_t> unravel(std::int64_t i, const Shape& s) {
  std::vector<std::int64_t> idx(s.size());
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

void check_close(const Tensor& got, const std::vector<double>& want, double rtol, double atol,
                 const std::string& what) {
  const auto g = got.to_vector<double>();
  REQUIRE_MESSAGE(g.size() == want.size(), what);
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(want[i])) {
      CHECK_MESSAGE(std::isnan(g[i]), what, " element ", i);
      continue;
    }
    CHECK_MESSAGE(std::abs(g[i] - want[i]) <= atol + rtol * std::abs(want[i]), what, " element ",
                  i, ": got ", g[i], " want ", want[i]);
  }
}

// A [4, 5] float64 input viewed through a transpose (non-contiguous), values spread
// over [-3, 3].
Tensor strided_input(Generator& gen) {
  return (Tensor::rand({5, 4}, {.dtype = kFloat64}, &gen) * 6.0 - 3.0).t();
}

}  // namespace

TEST_CASE("unary ops match <cmath> in float64 and float32") {
  Generator gen(1);
  const Tensor x64 = strided_input(gen);
  const Tensor pos64 = x64.abs() + 0.1;
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;
    bool positive = false;
  };
  const double inv_sqrt2 = 1.0 / std::numbers::sqrt2;
  const std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return -t; }, [](double v) { return -v; }},
      {"exp", [](const Tensor& t) { return t.exp(); }, [](double v) { return std::exp(v); }},
      {"log", [](const Tensor& t) { return t.log(); }, [](double v) { return std::log(v); }, true},
      {"log1p", [](const Tensor& t) { return t.log1p(); }, [](double v) { return std::log1p(v); }, true},
      {"expm1", [](const Tensor& t) { return t.expm1(); }, [](double v) { return std::expm1(v); }},
      {"sqrt", [](const Tensor& t) { return t.sqrt(); }, [](double v) { return std::sqrt(v); }, true},
      {"rsqrt", [](const Tensor& t) { return t.rsqrt(); }, [](double v) { return 1 / std::sqrt(v); }, true},
      {"abs", [](const Tensor& t) { return t.abs(); }, [](double v) { return std::abs(v); }},
      {"sign", [](const Tensor& t) { return t.sign(); }, [](double v) { return double((v > 0) - (v < 0)); }},
      {"sin", [](const Tensor& t) { return t.sin(); }, [](double v) { return std::sin(v); }},
      {"cos", [](const Tensor& t) { return t.cos(); }, [](double v) { return std::cos(v); }},
      {"tanh", [](const Tensor& t) { return t.tanh(); }, [](double v) { return std::tanh(v); }},
      {"sigmoid", [](const Tensor& t) { return t.sigmoid(); }, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"silu", [](const Tensor& t) { return t.silu(); }, [](double v) { return v / (1 + std::exp(-v)); }},
      {"gelu", [](const Tensor& t) { return t.gelu(); },
       [inv_sqrt2](double v) { return 0.5 * v * (1 + std::erf(v * inv_sqrt2)); }},
      {"relu", [](const Tensor& t) { return t.relu(); }, [](double v) { return v > 0 ? v : 0; }},
      {"erf", [](const Tensor& t) { return t.erf(); }, [](double v) { return std::erf(v); }},
      {"square", [](const Tensor& t) { return t.square(); }, [](double v) { return v * v; }},
      {"reciprocal", [](const Tensor& t) { return t.reciprocal(); }, [](double v) { return 1 / v; }, true},
      {"clamp", [](const Tensor& t) { return t.clamp(-1.0, 0.5); },
       [](double v) { return std::min(std::max(v, -1.0), 0.5); }},
      {"clamp_min", [](const Tensor& t) { return t.clamp(0.0, std::nullopt); },
       [](double v) { return std::max(v, 0.0); }},
      {"pow_scalar", [](const Tensor& t) { return t.pow(1.7); }, [](double v) { return std::pow(v, 1.7); }, true},
  };
  for (const auto& c : cases) {
    const Tensor in = c.positive ? pos64 : x64;
    std::vector<double> want;
    for (double v : in.to_vector<double>()) want.push_back(c.ref(v));
    check_close(c.op(in), want, 1e-14, 1e-15, std::string(c.name) + " float64");
    // float32: the same formula in single precision, within a few ulp of float32.
    check_close(c.op(in.to(kFloat32)), want, 2e-6, 1e-6, std::string(c.name) + " float32");
  }
}

TEST_CASE("unary ops are stable at extreme inputs") {
  const Tensor x = Tensor::tensor({-1000.0, -50.0, 0.0, 50.0, 1000.0}, {.dtype = kFloat64});
  check_close(x.sigmoid(), {0.0, 1 / (1 + std::exp(50.0)), 0.5, 1 / (1 + std::exp(-50.0)), 1.0},
              1e-14, 1e-300, "sigmoid");
  check_close(x.to(kFloat32).silu(), {-0.0, -50.0 / (1 + std::exp(50.0)), 0.0, 50.0, 1000.0}, 1e-6,
              1e-30, "silu float32");
  check_close(x.logsumexp({0}), {1000.0 + std::log1p(std::exp(-950.0))}, 1e-15, 0, "logsumexp");
  check_close(x.softmax(0), {0, 0, 0, 0, 1}, 0, 1e-300, "softmax");
}

TEST_CASE("binary ops with broadcasting match hand loops") {
  Generator gen(2);
  // a [4, 1, 3] (transposed storage) and b [5, 1]: broadcast to [4, 5, 3].
  const Tensor a = (Tensor::rand({3, 4}, {.dtype = kFloat64}, &gen) * 4.0 - 2.0).t().unsqueeze(1);
  const Tensor b = Tensor::rand({5, 1}, {.dtype = kFloat64}, &gen) * 2.0 + 0.5;
  const Shape out_shape = {4, 5, 3};
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<double(double, double)> ref;
  };
  const std::vector<Case> cases = {
      {"add", [](auto& x, auto& y) { return x + y; }, [](double x, double y) { return x + y; }},
      {"sub", [](auto& x, auto& y) { return x - y; }, [](double x, double y) { return x - y; }},
      {"mul", [](auto& x, auto& y) { return x * y; }, [](double x, double y) { return x * y; }},
      {"div", [](auto& x, auto& y) { return x / y; }, [](double x, double y) { return x / y; }},
      {"pow", [](auto& x, auto& y) { return x.abs().pow(y); }, [](double x, double y) { return std::pow(std::abs(x), y); }},
      {"maximum", [](auto& x, auto& y) { return maximum(x, y); }, [](double x, double y) { return std::max(x, y); }},
      {"minimum", [](auto& x, auto& y) { return minimum(x, y); }, [](double x, double y) { return std::min(x, y); }},
      {"eq", [](auto& x, auto& y) { return x == y; }, [](double x, double y) { return double(x == y); }},
      {"ne", [](auto& x, auto& y) { return x != y; }, [](double x, double y) { return double(x != y); }},
      {"lt", [](auto& x, auto& y) { return x < y; }, [](double x, double y) { return double(x < y); }},
      {"le", [](auto& x, auto& y) { return x <= y; }, [](double x, double y) { return double(x <= y); }},
      {"gt", [](auto& x, auto& y) { return x > y; }, [](double x, double y) { return double(x > y); }},
      {"ge", [](auto& x, auto& y) { return x >= y; }, [](double x, double y) { return double(x >= y); }},
      {"where", [](auto& x, auto& y) { return where(x > 0.0, x, y); }, [](double x, double y) { return x > 0 ? x : y; }},
  };
  for (const auto& c : cases) {
    const Tensor out = c.op(a, b);
    REQUIRE(out.shape() == out_shape);
    std::vector<double> want;
    for (std::int64_t i = 0; i < numel_of(out_shape); ++i) {
      const auto idx = unravel(i, out_shape);
      want.push_back(c.ref(a.at({idx[0], 0, idx[2]}), b.at({idx[1], 0})));
    }
    check_close(out, want, 1e-15, 0, c.name);
  }
  // Scalar overloads and int64 arithmetic.
  check_close(2.0 - Tensor::tensor({1.0, 4.0}) / 2.0, {1.5, 0.0}, 0, 0, "scalar ops");
  const Tensor i = Tensor::from_vector(std::vector<std::int64_t>{3, -4}, {2}, {.dtype = kInt64});
  CHECK((i * i + i).to_vector<std::int64_t>() == std::vector<std::int64_t>{12, 12});
  CHECK(i.abs().to_vector<std::int64_t>() == std::vector<std::int64_t>{3, 4});
  CHECK_THROWS_WITH_AS(i / i, doctest::Contains("int64 division"), Error);
}

TEST_CASE("NaN propagates through maximum, minimum and max") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor a = Tensor::tensor({1.0, nan, 3.0}, {.dtype = kFloat64});
  const Tensor b = Tensor::tensor({nan, 2.0, 1.0}, {.dtype = kFloat64});
  check_close(maximum(a, b), {nan, nan, 3.0}, 0, 0, "maximum");
  check_close(minimum(a, b), {nan, nan, 1.0}, 0, 0, "minimum");
  CHECK(std::isnan(a.max().item()));
  CHECK(a.argmax().item() == 1);
}

TEST_CASE("reductions over any set of dims match hand loops") {
  Generator gen(3);
  const Shape shape = {3, 4, 5};
  const Tensor x = Tensor::randn({5, 4, 3}, {.dtype = kFloat64}, &gen).permute({2, 1, 0});
  const auto v = [&](std::int64_t i, std::int64_t j, std::int64_t k) { return x.at({i, j, k}); };
  // Reduce over dims {0, 2} keeping dim 1: one value per j.
  std::vector<double> sum, mean, var, stdev, mx, mn, lse;
  for (std::int64_t j = 0; j < 4; ++j) {
    double s = 0, m = -INFINITY, lo = INFINITY;
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t k = 0; k < 5; ++k) {
        s += v(i, j, k);
        m = std::max(m, v(i, j, k));
        lo = std::min(lo, v(i, j, k));
      }
    const double mu = s / 15;
    double ss = 0, se = 0;
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t k = 0; k < 5; ++k) {
        ss += (v(i, j, k) - mu) * (v(i, j, k) - mu);
        se += std::exp(v(i, j, k));
      }
    sum.push_back(s);
    mean.push_back(mu);
    var.push_back(ss / 14);
    stdev.push_back(std::sqrt(ss / 15));
    mx.push_back(m);
    mn.push_back(lo);
    lse.push_back(std::log(se));
  }
  check_close(x.sum({0, 2}), sum, 1e-14, 1e-14, "sum");
  check_close(x.mean({2, 0}), mean, 1e-14, 1e-14, "mean");
  check_close(x.var({0, -1}), var, 1e-13, 1e-14, "var (unbiased)");
  check_close(x.std({0, 2}, /*correction=*/0), stdev, 1e-13, 1e-14, "std (biased)");
  check_close(x.max({0, 2}), mx, 0, 0, "max");
  check_close(x.min({0, 2}), mn, 0, 0, "min");
  check_close(x.logsumexp({0, 2}), lse, 1e-14, 1e-14, "logsumexp");
  CHECK(x.sum({0, 2}, true).shape() == Shape{1, 4, 1});
  CHECK(x.sum().shape() == Shape{});
  check_close(x.sum(), {[&] {
                double s = 0;
                for (double e : sum) s += e;
                return s;
              }()},
              1e-13, 1e-13, "sum all");
  // argmax / argmin along dim 2 and over the flattened tensor.
  std::vector<double> am;
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 4; ++j) {
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < 5; ++k)
        if (v(i, j, k) > v(i, j, best)) best = k;
      am.push_back(static_cast<double>(best));
    }
  check_close(x.argmax(2), am, 0, 0, "argmax dim 2");
  CHECK(x.argmax(2, true).shape() == Shape{3, 4, 1});
  const auto flat = x.contiguous().to_vector<double>();
  const auto flat_min = std::min_element(flat.begin(), flat.end()) - flat.begin();
  CHECK(x.argmin().item<std::int64_t>() == flat_min);
}

TEST_CASE("float32 sums accumulate in double") {
  // 2^24 + 1 ones: a float32 accumulator would stall at 2^24.
  const std::int64_t n = (1 << 24) + 1;
  const Tensor ones = Tensor::ones({n});
  CHECK(ones.sum().item() == doctest::Approx(static_cast<double>(n)).epsilon(1e-7));
}

TEST_CASE("softmax and log_softmax match the closed form along any dim") {
  Generator gen(4);
  const Tensor x = Tensor::randn({2, 3, 4}, {.dtype = kFloat64}, &gen) * 5.0;
  for (std::int64_t dim : {0, 1, 2}) {
    std::vector<double> soft, logsoft;
    for (std::int64_t e = 0; e < 24; ++e) {
      auto idx = unravel(e, {2, 3, 4});
      double m = -INFINITY;
      for (std::int64_t k = 0; k < x.shape()[dim]; ++k) {
        auto j = idx;
        j[dim] = k;
        m = std::max(m, x.at(j));
      }
      double z = 0;
      for (std::int64_t k = 0; k < x.shape()[dim]; ++k) {
        auto j = idx;
        j[dim] = k;
        z += std::exp(x.at(j) - m);
      }
      soft.push_back(std::exp(x.at(idx) - m) / z);
      logsoft.push_back(x.at(idx) - m - std::log(z));
    }
    check_close(x.softmax(dim), soft, 1e-14, 1e-16, "softmax");
    check_close(x.log_softmax(dim), logsoft, 1e-14, 1e-14, "log_softmax");
  }
}

TEST_CASE("matmul of every rank combination matches a triple loop") {
  Generator gen(5);
  auto ref = [](const Tensor& a, const Tensor& b) {  // a [m, k], b [k, n] 2-D
    std::vector<double> out;
    for (std::int64_t i = 0; i < a.shape()[0]; ++i)
      for (std::int64_t j = 0; j < b.shape()[1]; ++j) {
        double s = 0;
        for (std::int64_t p = 0; p < a.shape()[1]; ++p) s += a.at({i, p}) * b.at({p, j});
        out.push_back(s);
      }
    return out;
  };
  const Tensor a = Tensor::randn({7, 5}, {.dtype = kFloat64}, &gen);
  const Tensor b = Tensor::randn({5, 3}, {.dtype = kFloat64}, &gen);
  check_close(a.matmul(b), ref(a, b), 1e-13, 1e-13, "2-D");
  check_close(a.t().contiguous().t().matmul(b.t().contiguous().t()), ref(a, b), 1e-13, 1e-13,
              "transposed views");
  check_close(a.slice(1, 0, 5, 1).matmul(b), ref(a, b), 1e-13, 1e-13, "sliced");
  // 1-D cases.
  const Tensor v = Tensor::randn({5}, {.dtype = kFloat64}, &gen);
  check_close(v.matmul(b), ref(v.unsqueeze(0), b), 1e-13, 1e-13, "vec @ mat");
  check_close(a.matmul(v), ref(a, v.unsqueeze(1)), 1e-13, 1e-13, "mat @ vec");
  CHECK(v.matmul(v).dim() == 0);
  check_close(v.matmul(v), ref(v.unsqueeze(0), v.unsqueeze(1)), 1e-13, 1e-13, "dot");
  // Batched with broadcast batch dims: [2, 1, 7, 5] @ [3, 5, 3] -> [2, 3, 7, 3].
  const Tensor ab = Tensor::randn({2, 1, 7, 5}, {.dtype = kFloat64}, &gen);
  const Tensor bb = Tensor::randn({3, 5, 3}, {.dtype = kFloat64}, &gen);
  const Tensor out = ab.matmul(bb);
  REQUIRE(out.shape() == Shape{2, 3, 7, 3});
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      check_close(out.select(0, i).select(0, j), ref(ab.select(0, i).select(0, 0), bb.select(0, j)),
                  1e-13, 1e-13, "batched");
  // float32 against the float64 reference: error bound k·ε·Σ|a||b| ≈ 5 · 6e-8 · O(5).
  check_close(a.to(kFloat32).matmul(b.to(kFloat32)), ref(a, b), 1e-5, 2e-6, "float32");
  // bmm
  const Tensor x3 = Tensor::randn({2, 4, 5}, {.dtype = kFloat64}, &gen);
  const Tensor y3 = Tensor::randn({2, 5, 6}, {.dtype = kFloat64}, &gen);
  const Tensor z3 = x3.bmm(y3);
  for (std::int64_t i = 0; i < 2; ++i)
    check_close(z3.select(0, i), ref(x3.select(0, i), y3.select(0, i)), 1e-13, 1e-13, "bmm");
  CHECK_THROWS_WITH_AS(x3.bmm(y3.select(0, 0)), doctest::Contains("bmm: expects 3-D"), Error);
}
