// Optimizers against hand-computed steps (the expected numbers come from the update
// formulas written out in this file, plus literal values for the first steps), exact
// resumption through state_dict, learning-rate schedules and clip_grad_norm_.
#include <doctest/doctest.h>

#include <cmath>

#include "kiln.h"

using namespace kiln;

namespace {

Tensor param(std::initializer_list<double> v) {
  return Tensor::tensor(v, {.dtype = kFloat64}).requires_grad_();
}
void set_grad(Tensor& p, std::initializer_list<double> g) {
  p.set_grad(Tensor::tensor(g, {.dtype = kFloat64}));
}
void check_close(const Tensor& t, const std::vector<double>& expected, double tol = 1e-14) {
  const auto got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    CHECK_MESSAGE(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i])),
                  "element " << i << ": got " << got[i] << ", expected " << expected[i]);
}

// torch.optim.Adam / AdamW written out for one scalar parameter.
struct AdamRef {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  double m = 0, v = 0;
  int t = 0;
  double step(double p, double g) {
    ++t;
    if (decoupled) p = p * (1 - lr * wd);
    else g = g + wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double m_hat = m / (1 - std::pow(b1, t));
    const double v_hat = v / (1 - std::pow(b2, t));
    return p - lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

const std::vector<std::vector<double>> kGrads = {{0.5, -1.0}, {0.1, 0.3}, {-0.2, 0.4}};

}  // namespace

TEST_CASE("optim: Adam steps match the formulas (coupled weight decay)") {
  Tensor p = param({1.0, -2.0});
  optim::Adam opt({p}, {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
  // Step 1 by hand: m̂ = g, v̂ = g², so p -= lr · g / (|g| + eps).
  set_grad(p, {0.5, -1.0});
  opt.step();
  check_close(p, {1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 1.0 / (1.0 + 1e-8)});
  CHECK(opt.step_count() == 1);

  // Three steps with weight decay against the written-out formula.
  Tensor q = param({1.0, -2.0});
  optim::Adam wd({q}, {.lr = 0.05, .beta1 = 0.8, .beta2 = 0.9, .eps = 1e-6, .weight_decay = 0.1});
  AdamRef r0{0.05, 0.8, 0.9, 1e-6, 0.1, false}, r1 = r0;
  double e0 = 1.0, e1 = -2.0;
  for (const auto& g : kGrads) {
    q.set_grad(Tensor::tensor({g[0], g[1]}, {.dtype = kFloat64}));
    wd.step();
    e0 = r0.step(e0, g[0]);
    e1 = r1.step(e1, g[1]);
    check_close(q, {e0, e1});
  }
  // And the state it keeps: m after 3 steps.
  check_close(wd.state_dict().at("exp_avg.0"), {r0.m, r1.m});
  check_close(wd.state_dict().at("exp_avg_sq.0"), {r0.v, r1.v});
}

TEST_CASE("optim: AdamW decouples weight decay: p <- p - lr*wd*p, then Adam") {
  Tensor p = param({1.0, -2.0});
  optim::AdamW opt({p}, {.lr = 0.1, .weight_decay = 0.5});
  // Step 1 by hand: p·(1 - 0.05), then -lr·sign(g) (up to eps).
  set_grad(p, {0.5, -1.0});
  opt.step();
  check_close(p, {0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -1.9 + 0.1 * 1.0 / (1.0 + 1e-8)});

  Tensor q = param({1.0, -2.0});
  optim::AdamW w({q}, {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.2});
  AdamRef r0{0.01, 0.9, 0.99, 1e-8, 0.2, true}, r1 = r0;
  double e0 = 1.0, e1 = -2.0;
  for (const auto& g : kGrads) {
    q.set_grad(Tensor::tensor({g[0], g[1]}, {.dtype = kFloat64}));
    w.step();
    e0 = r0.step(e0, g[0]);
    e1 = r1.step(e1, g[1]);
    check_close(q, {e0, e1});
  }
  // torch's default weight decay for AdamW.
  CHECK(optim::AdamW({param({1})}).options().weight_decay == 0.01);
  CHECK(optim::AdamW({param({1})}, {.lr = 0.5}).options().weight_decay == 0.01);
}

TEST_CASE("optim: SGD plain, momentum, nesterov, dampening and weight decay") {
  SUBCASE("plain") {
    Tensor p = param({1.0, 2.0});
    optim::SGD opt({p}, 0.1);
    set_grad(p, {1.0, -2.0});
    opt.step();
    check_close(p, {0.9, 2.2});
    CHECK(opt.state_dict().size() == 2);  // lr and step: no momentum buffers
  }
  SUBCASE("momentum 0.9: b = g, then b = 0.9 b + g; p -= lr b") {
    Tensor p = param({1.0});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
    set_grad(p, {1.0});
    opt.step();  // b = 1          p = 1 - 0.1 = 0.9
    check_close(p, {0.9});
    set_grad(p, {0.5});
    opt.step();  // b = 0.9 + 0.5 = 1.4      p = 0.9 - 0.14 = 0.76
    check_close(p, {0.76});
    set_grad(p, {-1.0});
    opt.step();  // b = 1.26 - 1 = 0.26      p = 0.76 - 0.026 = 0.734
    check_close(p, {0.734});
    check_close(opt.state_dict().at("momentum_buffer.0"), {0.26});
  }
  SUBCASE("nesterov: p -= lr (g + 0.9 b)") {
    Tensor p = param({1.0});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    set_grad(p, {1.0});
    opt.step();  // b = 1, g + 0.9b = 1.9            p = 0.81
    check_close(p, {0.81});
    set_grad(p, {0.5});
    opt.step();  // b = 1.4, g + 0.9b = 1.76         p = 0.634
    check_close(p, {0.634});
    set_grad(p, {-1.0});
    opt.step();  // b = 0.26, g + 0.9b = -0.766      p = 0.7106
    check_close(p, {0.7106});
  }
  SUBCASE("dampening 0.5 and weight decay 0.1") {
    Tensor p = param({2.0});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.5, .dampening = 0.5, .weight_decay = 0.1});
    set_grad(p, {1.0});
    opt.step();  // g = 1 + 0.2 = 1.2, b = 1.2 (no dampening on the first step)  p = 1.88
    check_close(p, {1.88});
    set_grad(p, {1.0});
    opt.step();  // g = 1 + 0.188 = 1.188, b = 0.6 + 0.594 = 1.194  p = 1.88 - 0.1194
    check_close(p, {1.88 - 0.1194});
  }
  CHECK_THROWS_WITH_AS(optim::SGD({param({1})}, {.lr = 0.1, .nesterov = true}),
                       doctest::Contains("nesterov"), Error);
}

TEST_CASE("optim: float32 parameters and a small network step as in float64") {
  // The fused kernel runs in the parameter's dtype; float32 agrees with the float64
  // formula to float32 rounding.
  Tensor p = Tensor::tensor({1.0, -2.0}).requires_grad_();
  optim::Adam opt({p}, {.lr = 0.05, .weight_decay = 0.1});
  AdamRef r0{0.05, 0.9, 0.999, 1e-8, 0.1, false}, r1 = r0;
  double e0 = 1.0, e1 = -2.0;
  for (const auto& g : kGrads) {
    p.set_grad(Tensor::tensor({g[0], g[1]}));
    opt.step();
    e0 = r0.step(e0, g[0]);
    e1 = r1.step(e1, g[1]);
  }
  check_close(p, {e0, e1}, 1e-6);
}

TEST_CASE("optim: parameters without a gradient are skipped; zero_grad; errors") {
  Tensor a = param({1.0}), b = param({1.0});
  optim::Adam opt({a, b}, 0.1);
  set_grad(a, {1.0});
  opt.step();
  CHECK(opt.step_count(0) == 1);
  CHECK(opt.step_count(1) == 0);
  CHECK(b.item() == 1.0);
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  opt.set_lr(0.5);
  CHECK(opt.lr() == 0.5);

  CHECK_THROWS_WITH_AS(optim::Adam({}, 0.1), doctest::Contains("empty parameter list"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({a, a}, 0.1), doctest::Contains("appears twice"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({a}, -1.0), doctest::Contains("invalid learning rate"), Error);
  a.set_grad(Tensor::ones({1}));  // float32 gradient for a float64 parameter
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("gradient is [1] float32"), Error);
}

TEST_CASE("optim: state_dict resumes training exactly") {
  auto run = [](optim::Optimizer& opt, Tensor& p, int from, int to) {
    for (int s = from; s < to; ++s) {
      p.set_grad((p * p * 0.5 + static_cast<double>(s)).detach());
      opt.step();
    }
  };
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [&](Tensor p) -> std::unique_ptr<optim::Optimizer> {
      if (kind == 0) return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, 0.01);
      if (kind == 1) return std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, 0.01);
      return std::make_unique<optim::SGD>(std::vector<Tensor>{p},
                                          optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
    };
    Tensor p1 = Tensor::tensor({0.3, -0.7, 1.1}).requires_grad_();
    auto straight = make(p1);
    run(*straight, p1, 0, 5);

    Tensor p2 = Tensor::tensor({0.3, -0.7, 1.1}).requires_grad_();
    auto first = make(p2);
    run(*first, p2, 0, 3);
    nn::OrderedDict<Tensor> saved;
    for (const auto& [k, v] : first->state_dict()) saved.insert(k, v.clone());
    const Tensor p2_saved = p2.detach().clone();

    Tensor p3 = p2_saved.clone().requires_grad_();
    auto resumed = make(p3);
    resumed->load_state_dict(saved);
    CHECK(resumed->step_count() == 3);
    run(*resumed, p3, 3, 5);
    CHECK_MESSAGE(p3.to_vector<float>() == p1.to_vector<float>(), "optimizer kind " << kind);
  }
}

TEST_CASE("optim: load_state_dict names what differs") {
  Tensor p = param({1.0, 2.0});
  optim::Adam opt({p}, 0.1);
  nn::OrderedDict<Tensor> sd;
  for (const auto& [k, v] : opt.state_dict()) {
    if (k == "exp_avg_sq.0") continue;
    sd.insert(k, k == "exp_avg.0" ? Tensor::zeros({3}, {.dtype = kFloat64}) : v.clone());
  }
  sd.insert("momentum_buffer.0", Tensor::zeros({2}));
  CHECK_THROWS_WITH_AS(opt.load_state_dict(sd),
                       "Adam.load_state_dict: missing keys: exp_avg_sq.0; unexpected keys: "
                       "momentum_buffer.0; shape of exp_avg.0: [3] in the dict vs [2] expected",
                       Error);
}

TEST_CASE("optim: learning-rate schedules") {
  optim::LinearWarmup warm{1.0, 4};
  CHECK(warm(0) == 0.25);
  CHECK(warm(1) == 0.5);
  CHECK(warm(3) == 1.0);
  CHECK(warm(100) == 1.0);
  optim::CosineAnnealing cos{1.0, 10, 0.1};
  CHECK(cos(0) == doctest::Approx(1.0));
  CHECK(cos(5) == doctest::Approx(0.55));
  CHECK(cos(10) == doctest::Approx(0.1));
  CHECK(cos(11) == doctest::Approx(0.1));
  optim::WarmupCosine wc{2.0, 2, 12, 0.0};
  CHECK(wc(0) == doctest::Approx(1.0));
  CHECK(wc(1) == doctest::Approx(2.0));
  CHECK(wc(2) == doctest::Approx(2.0));
  CHECK(wc(7) == doctest::Approx(1.0));
  CHECK(wc(12) == doctest::Approx(0.0));
  optim::LRSchedule f = wc;  // any of them is an LRSchedule
  CHECK(f(7) == doctest::Approx(1.0));
}

TEST_CASE("optim: clip_grad_norm_ scales every gradient by max_norm / total norm") {
  Tensor a = param({0, 0}), b = param({0}), c = param({0});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});
  // c has no gradient: skipped.
  const double total = optim::clip_grad_norm_({a, b, c}, 6.5);
  CHECK(total == doctest::Approx(13.0));
  const double coef = 6.5 / (13.0 + 1e-6);
  check_close(a.grad(), {3 * coef, 4 * coef});
  check_close(b.grad(), {12 * coef});
  CHECK(std::sqrt(a.grad().square().sum().item() + b.grad().square().sum().item()) ==
        doctest::Approx(6.5));
  // Below max_norm nothing changes.
  set_grad(a, {3.0, 4.0});
  CHECK(optim::clip_grad_norm_({a}, 10.0) == doctest::Approx(5.0));
  check_close(a.grad(), {3.0, 4.0});
  // A non-finite norm is returned and leaves the gradients alone.
  set_grad(a, {INFINITY, 1.0});
  CHECK(std::isinf(optim::clip_grad_norm_({a}, 1.0)));
  CHECK(a.grad().at({1}) == 1.0);
}
