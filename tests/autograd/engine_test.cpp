// The autograd engine: seeding, accumulation, retain_graph, autograd::grad, higher-order
// gradients, grad mode, detach, and gradients flowing through views into their base.
#include <doctest/doctest.h>

#include "kiln.h"

using namespace kiln;

namespace {
Tensor f64(std::initializer_list<double> v) { return Tensor::tensor(v, {.dtype = kFloat64}); }
void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  const auto got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tol));
}
}  // namespace

TEST_CASE("backward: scalar seeded with one, gradients accumulate into leaves") {
  Tensor x = f64({1, 2, 3}).requires_grad_();
  Tensor y = (x * x).sum();  // dy/dx = 2x
  y.backward();
  check_values(x.grad(), {2, 4, 6});
  // A second graph adds to .grad, as in PyTorch.
  (x * 3.0).sum().backward();
  check_values(x.grad(), {5, 7, 9});
  CHECK(x.is_leaf());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->name() == "SumBackward");
}

TEST_CASE("backward: non-scalar output needs an explicit gradient") {
  Tensor x = f64({1, 2}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("one-element"), Error);
  y.backward(f64({10, 100}));
  check_values(x.grad(), {20, 200});
}

TEST_CASE("backward: a second pass through a freed graph is a clear error") {
  Tensor x = f64({1, 2}).requires_grad_();
  Tensor y = x.exp().sum();
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("second time"), Error);

  Tensor z = x.exp().sum();
  x.set_grad({});
  z.backward({}, /*retain_graph=*/true);
  z.backward();  // allowed: the first pass kept the graph
  check_values(x.grad(), {2 * std::exp(1.0), 2 * std::exp(2.0)});
}

TEST_CASE("autograd::grad returns gradients without touching .grad") {
  Tensor x = f64({0.5, -1.0}).requires_grad_();
  Tensor w = f64({2, 3}).requires_grad_();
  Tensor y = (x * w).sum();
  auto g = autograd::grad({y}, {x, w});
  check_values(g[0], {2, 3});
  check_values(g[1], {0.5, -1.0});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("autograd::grad of a non-leaf and of an unused input") {
  Tensor x = f64({1, 2}).requires_grad_();
  Tensor h = x * 3.0;
  Tensor y = (h * h).sum();
  auto g = autograd::grad({y}, {h});
  check_values(g[0], {6, 12});  // 2h
  Tensor unused = f64({1}).requires_grad_();
  Tensor y2 = (x * 2.0).sum();
  CHECK_THROWS_WITH_AS(autograd::grad({y2}, {unused}, {}, true), doctest::Contains("not used"),
                       Error);
  auto g2 = autograd::grad({y2}, {unused}, {}, false, false, /*allow_unused=*/true);
  CHECK_FALSE(g2[0].defined());
}

TEST_CASE("create_graph gives higher-order gradients") {
  // y = x³ → dy/dx = 3x², d²y/dx² = 6x
  Tensor x = f64({2.0}).requires_grad_();
  Tensor y = x.pow(3.0).sum();
  Tensor dx = autograd::grad({y}, {x}, {}, false, /*create_graph=*/true)[0];
  check_values(dx, {12});
  CHECK(dx.requires_grad());
  auto d2 = autograd::grad({dx.sum()}, {x});
  check_values(d2[0], {12});
  // Through a chain of cheap ops: sin'' = -sin
  Tensor z = f64({0.3}).requires_grad_();
  auto dz = autograd::grad({z.sin().sum()}, {z}, {}, false, true)[0];
  auto d2z = autograd::grad({dz.sum()}, {z})[0];
  check_values(d2z, {-std::sin(0.3)});
}

TEST_CASE("NoGradGuard and detach stop the graph") {
  Tensor x = f64({1, 2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(autograd::grad_enabled());
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.shares_storage_with(x));
  Tensor y = (x * d).sum();  // d is a constant: dy/dx = d
  y.backward();
  check_values(x.grad(), {1, 2});
}

TEST_CASE("gradients flow through views into the base") {
  Tensor base = Tensor::arange(0, 6, 1, {.dtype = kFloat64}).requires_grad_();
  Tensor m = base.view({2, 3});
  Tensor col = m.select(1, 1);            // elements 1 and 4
  Tensor t = m.t().narrow(0, 2, 1);       // elements 2 and 5
  ((col * 10.0).sum() + t.sum() + m.expand({4, 2, 3}).sum()).backward();
  check_values(base.grad(), {4, 14, 5, 4, 14, 5});
}

TEST_CASE("requires_grad only on floating leaves") {
  Tensor i = Tensor::zeros({2}, {.dtype = kInt64});
  CHECK_THROWS_WITH_AS(i.requires_grad_(), doctest::Contains("floating"), Error);
  Tensor x = f64({1}).requires_grad_();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.requires_grad_(false), doctest::Contains("leaf"), Error);
}

TEST_CASE(".grad owns its memory even when the gradient is a view") {
  // d(sum)/dx is an expand of the scalar seed: a stride-0 view. It must be materialised
  // before landing in .grad, or an in-place optimizer update would corrupt it.
  Tensor x = Tensor::zeros({3, 4}, {.dtype = kFloat64, .requires_grad = true});
  x.sum().backward();
  CHECK(x.grad().is_contiguous());
  x.grad().fill_(7);
  check_values(x.grad(), std::vector<double>(12, 7.0));
}

TEST_CASE("silu: the fused backward and the create_graph formula agree; silu'' by hand") {
  // Without create_graph SiLU's backward is one fused kernel (fn::SiluBackward); with it,
  // a chain of differentiable ops. Both must give silu'(x) = σ(1 + x(1 - σ)), and the
  // second one must differentiate again: silu''(x) = σ(1 - σ)(2 + x(1 - 2σ)).
  const std::vector<double> xs = {-30.0, -2.5, -0.3, 0.0, 0.7, 4.0};
  Tensor x = Tensor::from_vector(xs, {6}, {.dtype = kFloat64}).requires_grad_();
  const Tensor fused = autograd::grad({x.silu().sum()}, {x})[0];
  const Tensor graph = autograd::grad({x.silu().sum()}, {x}, {}, false, /*create_graph=*/true)[0];
  const Tensor second = autograd::grad({graph.sum()}, {x})[0];
  for (size_t i = 0; i < xs.size(); ++i) {
    const double s = 1 / (1 + std::exp(-xs[i]));
    CAPTURE(xs[i]);
    CHECK(fused.at({static_cast<std::int64_t>(i)}) == doctest::Approx(s * (1 + xs[i] * (1 - s))).epsilon(1e-14));
    CHECK(graph.at({static_cast<std::int64_t>(i)}) == doctest::Approx(fused.at({static_cast<std::int64_t>(i)})).epsilon(1e-14));
    CHECK(second.at({static_cast<std::int64_t>(i)}) ==
          doctest::Approx(s * (1 - s) * (2 + xs[i] * (1 - 2 * s))).epsilon(1e-12));
  }
}
