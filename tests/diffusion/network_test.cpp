// The network's side of the diffusion module: the input embeddings E28 and E29, the
// noise interpolation E32, the four named models (mlp-2d, ddpm-small, ddpm-cifar10,
// keras-unet64, and the test-sized ddpm-tiny) and the verifications V13 and V20.
//
// Reference values for the U-Nets come from PyTorch (float64, deterministic weights):
// shared/anchors/torch_unet.py for the DDPM U-Net and a PyTorch re-implementation of
// the Keras chapter's network (the one that confirmed its parameter count below). The
// numbers are pasted here, so the suite needs no Python.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "autograd/ops/loss.h"
#include "diffusion/embedding.h"
#include "diffusion/interpolation.h"
#include "diffusion/keras_unet.h"
#include "diffusion/mlp.h"
#include "diffusion/models.h"
#include "diffusion/unet.h"
#include "diffusion/verify.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;
using autograd::gradcheck;
using V = const std::vector<Tensor>&;

namespace {

constexpr double kPi = std::numbers::pi;

Tensor f64(const std::vector<double>& v, const Shape& shape, bool requires_grad = false) {
  Tensor t = Tensor::from_vector(v, shape, {.dtype = kFloat64});
  if (requires_grad) t.requires_grad_();
  return t;
}

CheckResult run_network_check(const std::string& id) {
  for (const Check& c : network_checks())
    if (c.id == id) return run_check(c);
  FAIL("no network check with id " << id);
  return {};
}

// Every parameter element k (counted across the parameters in named_parameters() order,
// which is PyTorch's order too) set to 0.1·sin(0.7 k + 0.3): deterministic weights that
// a PyTorch script can reproduce exactly, and non-zero everywhere (so the
// zero-initialised layers no longer hide the rest of the network from a gradient check).
void fill_deterministic(nn::Module& model) {
  NoGradGuard no_grad;
  std::int64_t k = 0;
  for (Tensor& p : model.parameters()) {
    std::vector<double> values(static_cast<std::size_t>(p.numel()));
    for (double& v : values) v = 0.1 * std::sin(0.7 * static_cast<double>(k++) + 0.3);
    p.copy_(Tensor::from_vector(values, p.shape(), {.dtype = p.dtype()}));
  }
}

// x[i] = cos(0.37 i) in row-major order (the PyTorch script's input).
Tensor cos_input(const Shape& shape) {
  std::vector<double> v(static_cast<std::size_t>(numel_of(shape)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::cos(0.37 * static_cast<double>(i));
  return f64(v, shape);
}

struct Golden {
  double sum, sumsq;
  std::vector<std::int64_t> at;
  std::vector<double> values;
};

void check_golden(const Tensor& y, const Golden& g, double tol) {
  const auto flat = y.to_vector<double>();
  double sum = 0, sumsq = 0;
  for (double v : flat) {
    sum += v;
    sumsq += v * v;
  }
  CHECK(sum == doctest::Approx(g.sum).epsilon(tol));
  CHECK(sumsq == doctest::Approx(g.sumsq).epsilon(tol));
  for (std::size_t i = 0; i < g.at.size(); ++i) {
    const auto idx = static_cast<std::size_t>(g.at[i] < 0 ? static_cast<std::int64_t>(flat.size()) + g.at[i] : g.at[i]);
    CHECK(flat[idx] == doctest::Approx(g.values[i]).epsilon(tol));
  }
}

}  // namespace

// ---- E28 -------------------------------------------------------------------------------

TEST_CASE("E28 timestep_embedding: shape, dtype and the closed form") {
  const Tensor t = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 500, 1000}, {4}, {.dtype = kInt64});
  const Tensor e = timestep_embedding(t, 128);
  CHECK(e.shape() == Shape{4, 128});
  CHECK(e.dtype() == kFloat32);  // int64 timesteps -> float32, as torch's t.float()

  // float64: every entry against sin/cos(t·10000^{-i/(h-1)}).
  const Tensor e64 = timestep_embedding(t.to(kFloat64), 8);
  CHECK(e64.dtype() == kFloat64);
  const std::vector<double> ts = {0, 1, 500, 1000};
  for (std::int64_t b = 0; b < 4; ++b) {
    for (std::int64_t i = 0; i < 4; ++i) {
      const double omega = std::pow(10000.0, -static_cast<double>(i) / 3.0);
      CHECK(e64.at({b, i}) == doctest::Approx(std::sin(ts[b] * omega)).epsilon(1e-12));
      CHECK(e64.at({b, 4 + i}) == doctest::Approx(std::cos(ts[b] * omega)).epsilon(1e-12));
    }
  }
  // The frequencies run from ω_0 = 1 to ω_{h-1} = 1e-4.
  const auto w = timestep_frequencies(8, kFloat64).to_vector<double>();
  CHECK(w.front() == 1.0);
  CHECK(w.back() == doctest::Approx(1e-4).epsilon(1e-14));
  // Any batch shape: [2, 3] -> [2, 3, 16].
  CHECK(timestep_embedding(Tensor::ones({2, 3}), 16).shape() == Shape{2, 3, 16});
  CHECK_THROWS_AS(timestep_embedding(t, 7), Error);  // odd d
  CHECK_THROWS_AS(timestep_embedding(t, 2), Error);  // h - 1 = 0
}

TEST_CASE("E28 timestep_embedding: float32 values equal torch_unet.py's") {
  // torch_unet.timestep_embedding(torch.tensor([1, 999]), 8), printed with 9 digits.
  const Tensor e = timestep_embedding(Tensor::from_vector(std::vector<std::int64_t>{1, 999}, {2}, {.dtype = kInt64}), 8);
  const std::vector<double> torch_values = {
      0.841470957,   0.0463992245, 0.00215443317, 9.99999902e-05,
      0.540302336,   0.998922944,  0.999997675,   1.0,
      -0.0264607519, 0.684864163,  0.835648477,   0.0997339115,
      0.999649823,   -0.728670716, -0.549264669,  0.995014131};
  const auto ours = e.to_vector<double>();
  // Tolerance: one float32 rounding of ω_i, times t = 999, moves the angle by ~3e-6.
  for (std::size_t i = 0; i < ours.size(); ++i)
    CHECK(ours[i] == doctest::Approx(torch_values[i]).scale(1).epsilon(1e-5));
}

// ---- E29 -------------------------------------------------------------------------------

TEST_CASE("E29 noise_embedding: shape, known points, the closed form") {
  const Tensor x = f64({0.0, 0.25, 1.0 / 4000, 0.6}, {4});
  const Tensor e = noise_embedding(x);
  CHECK(e.shape() == Shape{4, 32});
  for (std::int64_t i = 0; i < 16; ++i) {  // x = 0: sin 0 = 0, cos 0 = 1
    CHECK(e.at({0, i}) == 0.0);
    CHECK(e.at({0, 16 + i}) == 1.0);
  }
  CHECK(e.at({1, 0}) == doctest::Approx(1.0).epsilon(1e-15));   // sin(2π·1·¼)
  CHECK(e.at({2, 15}) == doctest::Approx(1.0).epsilon(1e-12));  // sin(2π·1000/4000)
  for (std::int64_t i = 0; i < 16; ++i) {
    const double a = 2 * kPi * std::pow(1000.0, static_cast<double>(i) / 15.0) * 0.6;
    CHECK(e.at({3, i}) == doctest::Approx(std::sin(a)).scale(1).epsilon(1e-10));
    CHECK(e.at({3, 16 + i}) == doctest::Approx(std::cos(a)).scale(1).epsilon(1e-10));
  }
  // The frequencies e^{i f}, f = ln(1000)/15: 1 .. 1000.
  const auto f = noise_embedding_frequencies(16, 1000.0, kFloat64).to_vector<double>();
  CHECK(f.front() == 1.0);
  CHECK(f.back() == doctest::Approx(1000.0).epsilon(1e-13));
  // Keras's input shape [B, 1, 1, 1] gains the embedding axis last.
  CHECK(noise_embedding(Tensor::zeros({3, 1, 1, 1})).shape() == Shape{3, 1, 1, 1, 32});
  CHECK(noise_embedding(x, 4).shape() == Shape{4, 8});
}

// ---- E32 -------------------------------------------------------------------------------

TEST_CASE("E32 slerp: endpoints, the quarter circle, and a row of interpolants") {
  Generator gen(32);
  const Tensor a = Tensor::randn({3, 4, 4}, {.dtype = kFloat64}, &gen);
  const Tensor b = Tensor::randn({3, 4, 4}, {.dtype = kFloat64}, &gen);
  CHECK((slerp(a, b, 0.0) - b).abs().max().item() < 1e-15);
  CHECK((slerp(a, b, 1.0) - a).abs().max().item() < 1e-15);
  const double s = 0.3;
  const Tensor mid = slerp(a, b, s);
  CHECK((mid - (a * std::sin(s * kPi / 2) + b * std::cos(s * kPi / 2))).abs().max().item() < 1e-15);
  // The weights lie on the unit circle: w_a² + w_b² = 1, unlike a straight line's.
  const double wa = std::sin(s * kPi / 2), wb = std::cos(s * kPi / 2);
  CHECK(wa * wa + wb * wb == doctest::Approx(1.0).epsilon(1e-15));

  const Tensor row = slerp_row(a, b, 5);
  CHECK(row.shape() == Shape{5, 3, 4, 4});
  for (std::int64_t j = 0; j < 5; ++j) {
    const Tensor expect = slerp(a, b, static_cast<double>(j) / 4.0);
    CHECK((row.select(0, j) - expect).abs().max().item() < 1e-15);
  }
  CHECK_THROWS_AS(slerp_row(a, b, 1), Error);
  CHECK_THROWS_AS(slerp(a, Tensor::zeros({3}), 0.5), Error);
}

// ---- gradient checks (float64, central differences) ------------------------------------

TEST_CASE("E28 E29 E32 gradcheck: differentiable in their floating inputs") {
  Generator gen(28);
  const Tensor t = (Tensor::rand({5}, {.dtype = kFloat64}, &gen) * 50.0).detach().requires_grad_();
  auto r28 = gradcheck([](V in) { return timestep_embedding(in[0], 8); }, {t});
  CHECK_MESSAGE(r28.ok, r28.message);

  const Tensor x = Tensor::rand({4}, {.dtype = kFloat64}, &gen).requires_grad_();
  auto r29 = gradcheck([](V in) { return noise_embedding(in[0]); }, {x});
  CHECK_MESSAGE(r29.ok, r29.message);

  const Tensor a = Tensor::randn({2, 3}, {.dtype = kFloat64}, &gen).requires_grad_();
  const Tensor b = Tensor::randn({2, 3}, {.dtype = kFloat64}, &gen).requires_grad_();
  const Tensor s = Tensor::rand({2, 1}, {.dtype = kFloat64}, &gen).requires_grad_();
  auto r32 = gradcheck([](V in) { return slerp(in[0], in[1], in[2]); }, {a, b, s});
  CHECK_MESSAGE(r32.ok, r32.message);
  auto r32row = gradcheck([](V in) { return slerp_row(in[0], in[1], 4); }, {a, b});
  CHECK_MESSAGE(r32row.ok, r32row.message);
}

TEST_CASE("UNet gradcheck: ddpm-tiny wrt its input, a continuous t, and some parameters") {
  manual_seed(1);
  UNet net(ddpm_tiny_config(), "ddpm-tiny");
  net.to(kFloat64);
  fill_deterministic(net);  // non-zero everywhere, so every path carries gradient
  // An 8x8 input keeps the check quick (the U-Net is convolutional; the attention sits
  // at level 1, here 4x4).
  const Tensor x = cos_input({1, 3, 8, 8}).requires_grad_();
  const Tensor t = f64({37.5}, {1}, /*requires_grad=*/true);
  const auto params = net.named_parameters();
  std::vector<Tensor> inputs = {x, t};
  for (const char* name : {"temb.0.bias", "down.0.0.n1.weight", "down.2.1.qkv.bias", "mida.o.bias",
                           "up.0.0.skip.bias", "out.2.bias"}) {
    REQUIRE_MESSAGE(params.contains(name), name);
    inputs.push_back(params.at(name));
  }
  auto r = gradcheck([&](V) { return net.forward(x, t); }, inputs);
  CHECK_MESSAGE(r.ok, r.message);
}

// ---- parameter counts ------------------------------------------------------------------

TEST_CASE("parameter counts of the named models") {
  manual_seed(0);
  // shared/REFERENCE_MODELS.md, as printed by shared/anchors/torch_unet.py.
  CHECK(make_model("ddpm-cifar10")->num_parameters() == 35746307);
  CHECK(make_model("ddpm-small")->num_parameters() == 1113955);
  CHECK(make_model("ddpm-tiny")->num_parameters() == 45259);  // torch_unet.UNet, same config

  // keras-unet64, block by block. conv(k, cin, cout) = k²·cin·cout + cout;
  // ResidualBlock(cin, w) = [cin != w] conv(1, cin, w) + conv(3, cin, w) + conv(3, w, w).
  //   inc conv(1, 3, 32)                                             128
  //   (then 32 + 32 embedding channels = 64)
  //   DownBlock 32: RB(64, 32) 29,792 + RB(32, 32) 18,496             48,288
  //   DownBlock 64: RB(32, 64) 57,536 + RB(64, 64) 73,856            131,392
  //   DownBlock 96: RB(64, 96) 144,672 + RB(96, 96) 166,080          310,752
  //   middle: RB(96, 128) 270,720 + RB(128, 128) 295,168             565,888
  //   UpBlock 96: RB(128+96, 96) 298,272 + RB(96+96, 96) 267,552     565,824
  //   UpBlock 64: RB(96+64, 64) 139,456 + RB(64+64, 64) 118,976      258,432
  //   UpBlock 32: RB(64+32, 32) 40,032 + RB(32+32, 32) 29,792         69,824
  //   out conv(1, 32, 3)                                                  99
  //   total                                                        1,950,627
  // BatchNorm has no scale or offset, so no parameters; its running mean and variance
  // (2 × 1,440 channels = 2,880 values) are buffers. Keras's summary counts them as
  // "non-trainable params" (total 1,953,507). A PyTorch re-implementation of the same
  // description prints 1,950,627 and 2,880 too.
  auto keras = make_model("keras-unet64");
  CHECK(keras->num_parameters() == 1950627);
  std::int64_t running = 0;
  for (const auto& [name, buffer] : keras->named_buffers())
    if (name.find("running_") != std::string::npos) running += buffer.numel();
  CHECK(running == 2880);

  // mlp-2d: (2 + 32)·128 + 128  +  2 × (128·128 + 128)  +  128·2 + 2.
  CHECK(make_model("mlp-2d")->num_parameters() == 4480 + 2 * 16512 + 258);
  CHECK(make_model("mlp-2d")->num_parameters() == 37762);
}

TEST_CASE("UNet parameter names follow shared/anchors/torch_unet.py") {
  auto model = make_model("ddpm-small");
  const auto names = model->named_parameters().keys();
  REQUIRE(names.size() == 166);  // len(list(torch_unet.UNet(ddpm-small).named_parameters()))
  CHECK(names.front() == "temb.0.weight");
  CHECK(names[4] == "inc.weight");
  CHECK(names[6] == "down.0.0.n1.weight");
  CHECK(names[16] == "down.1.weight");  // the first downsampling conv
  CHECK(names[28] == "down.2.0.skip.weight");
  CHECK(names.back() == "out.2.bias");
  const auto params = model->named_parameters();
  for (const char* name : {"mid1.t.weight", "mida.qkv.weight", "mida.o.bias", "mid2.c2.weight",
                           "down.4.1.qkv.weight", "up.0.0.skip.weight", "up.2.1.weight", "up.5.1.weight",
                           "out.0.weight"})
    CHECK_MESSAGE(params.contains(name), name);
}

// ---- the models' interface -------------------------------------------------------------

TEST_CASE("make_model: names, shapes, and ε̂ = 0 before training") {
  manual_seed(2);
  Generator gen(3);
  CHECK(model_names() == std::vector<std::string>{"mlp-2d", "ddpm-tiny", "ddpm-small",
                                                  "ddpm-cifar10", "keras-unet64"});
  for (const std::string name : {"mlp-2d", "ddpm-tiny", "ddpm-small", "keras-unet64"}) {
    CAPTURE(name);
    auto model = make_model(name);
    CHECK(model->config_name() == name);
    Shape shape = model->sample_shape();
    shape.insert(shape.begin(), 2);
    const Tensor x = Tensor::randn(shape, {}, &gen);
    const Tensor t = model->time_input() == TimeInput::Timestep
                         ? Tensor::from_vector(std::vector<std::int64_t>{1, 1000}, {2}, {.dtype = kInt64})
                         : Tensor::from_vector(std::vector<double>{0.05, 0.9}, {2});
    const Tensor eps_hat = model->forward(x, t);
    CHECK(eps_hat.shape() == x.shape());
    CHECK(eps_hat.dtype() == kFloat32);
    CHECK(eps_hat.abs().max().item() == 0.0);  // the zero-initialised head
  }
  CHECK(make_model("ddpm-small")->sample_shape() == Shape{3, 32, 32});
  CHECK(make_model("keras-unet64")->sample_shape() == Shape{3, 64, 64});
  CHECK(make_model("keras-unet64")->time_input() == TimeInput::NoiseVariance);
  CHECK(make_model("mlp-2d")->sample_shape() == Shape{2});
  CHECK_THROWS_WITH_AS(make_model("ddpm-huge"), doctest::Contains("ddpm-cifar10"), Error);
}

TEST_CASE("UNet: bad inputs give clear errors") {
  auto model = make_model("ddpm-tiny");
  const Tensor t = Tensor::from_vector(std::vector<std::int64_t>{1, 2}, {2}, {.dtype = kInt64});
  CHECK_THROWS_WITH_AS(model->forward(Tensor::zeros({2, 1, 16, 16}), t),
                       doctest::Contains("expected x [B, 3, H, W]"), Error);
  CHECK_THROWS_WITH_AS(model->forward(Tensor::zeros({2, 3, 15, 16}), t),
                       doctest::Contains("divisible by 2"), Error);
  CHECK_THROWS_WITH_AS(model->forward(Tensor::zeros({3, 3, 16, 16}), t),
                       doctest::Contains("t [B] with B = 3"), Error);
  CHECK_THROWS_AS(UNet(UNetConfig{.ch = 12, .groups = 8}), Error);  // 12 channels, 8 groups
}

TEST_CASE("UNet: timesteps as int64 or as floats give the same prediction") {
  manual_seed(4);
  UNet net(ddpm_tiny_config(), "ddpm-tiny");
  fill_deterministic(net);
  const Tensor x = cos_input({2, 3, 16, 16}).to(kFloat32);
  const Tensor a = net.forward(x, Tensor::from_vector(std::vector<std::int64_t>{7, 300}, {2}, {.dtype = kInt64}));
  const Tensor b = net.forward(x, Tensor::from_vector(std::vector<double>{7, 300}, {2}));
  CHECK((a - b).abs().max().item() == 0.0);
}

TEST_CASE("UNet ddpm-tiny in float64 equals the PyTorch anchor") {
  // torch_unet.UNet(res=16, ch=8, mult=(1,2), blocks=1, attn=(8,), groups=4, dropout=0)
  // in float64 (its embedding in float64 too), weights 0.1·sin(0.7k + 0.3), input
  // x[i] = cos(0.37 i) of shape [2, 3, 16, 16], t = (3, 917).
  manual_seed(5);
  UNet net(ddpm_tiny_config(), "ddpm-tiny");
  net.to(kFloat64);
  fill_deterministic(net);
  const Tensor y = net.forward(cos_input({2, 3, 16, 16}),
                               Tensor::from_vector(std::vector<std::int64_t>{3, 917}, {2}, {.dtype = kInt64}));
  check_golden(y, {50.93844680879883, 5.728119830785097, {0, 1, 77, 300, -1},
                   {-0.03314533545065631, -0.02774791675638321, -0.03259217908775118,
                    0.03973297094475118, 0.08769135079559849}},
               1e-12);
}

TEST_CASE("KerasUNet in float64 equals a PyTorch build of the same description") {
  // The PyTorch re-implementation (BatchNorm2d(affine=False, eps=1e-3), training mode),
  // float64, weights 0.1·sin(0.7k + 0.3), x[i] = cos(0.37 i) of shape [2, 3, 16, 16]
  // (the network is convolutional; 16×16 keeps the test quick), variances (0.1, 0.85).
  manual_seed(6);
  KerasUNet net(KerasUNetConfig{}, "keras-unet64");
  net.to(kFloat64);
  fill_deterministic(net);
  const Tensor y = net.forward(cos_input({2, 3, 16, 16}), f64({0.1, 0.85}, {2, 1, 1, 1}));
  check_golden(y, {179.65013479745113, 1346.6947687614993, {0, 1, 77, 300, -1},
                   {0.25682998607681373, 0.766119438398662, 0.09743221599242516,
                    0.19964736066361388, 0.3126140578062989}},
               1e-10);
  // Evaluation mode uses the running statistics that training mode just updated.
  net.eval();
  CHECK(net.forward(cos_input({1, 3, 16, 16}), f64({0.5}, {1})).shape() == Shape{1, 3, 16, 16});
}

TEST_CASE("zero-initialised head: the first step trains the head, the second reaches the rest") {
  manual_seed(7);
  Generator gen(8);
  auto model = make_model("ddpm-tiny");
  optim::Adam opt(model->parameters(), 1e-3);
  const Tensor x = Tensor::randn({4, 3, 16, 16}, {}, &gen);
  const Tensor t = Tensor::randint(1, 1001, {4}, {.dtype = kInt64}, &gen);
  const Tensor eps = Tensor::randn({4, 3, 16, 16}, {}, &gen);
  const auto grads = [&](const std::string& name) {
    const Tensor g = model->named_parameters().at(name).grad();
    return g.defined() ? g.abs().max().item() : 0.0;
  };
  opt.zero_grad();
  mse_loss(model->forward(x, t), eps).backward();
  CHECK(grads("out.2.weight") > 0);
  CHECK(grads("inc.weight") == 0.0);  // blocked by the zero output conv
  opt.step();
  opt.zero_grad();
  mse_loss(model->forward(x, t), eps).backward();
  CHECK(grads("inc.weight") > 0);
  CHECK(grads("down.0.0.c2.weight") > 0);
}

TEST_CASE("mlp-2d: shapes, float or int64 timesteps") {
  manual_seed(9);
  MLP2d mlp;
  fill_deterministic(mlp);
  const Tensor x = Tensor::randn({5, 2});
  const Tensor y = mlp.forward(x, Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5}, {5}, {.dtype = kInt64}));
  CHECK(y.shape() == Shape{5, 2});
  CHECK((y - mlp.forward(x, Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5}, {5}))).abs().max().item() == 0.0);
  CHECK_THROWS_AS(mlp.forward(Tensor::zeros({5, 3}), Tensor::zeros({5})), Error);
  CHECK(mlp.named_parameters().keys().back() == "net.6.bias");
}

// ---- verifications ---------------------------------------------------------------------

TEST_CASE("V13 embeddings at known points; slerp keeps unit variance") {
  const CheckResult r = run_network_check("V13");
  INFO(r.detail);
  CHECK(r.passed);
  CHECK(r.error <= r.tolerance);
}

TEST_CASE("V20 ddpm-cifar10 has 35,746,307 parameters; ε̂ = 0 and L_simple ≈ 1 at init") {
  const CheckResult r = run_network_check("V20");
  INFO(r.detail);
  CHECK(r.passed);
  CHECK(r.error <= r.tolerance);
}
