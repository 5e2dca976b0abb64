// The layers: a float64 gradient check of each one over its input and its parameters
// (autograd::gradcheck, central differences), PyTorch's default initialisation
// statistics, and the behaviour each layer adds over its functional op (BatchNorm2d's
// buffers, MultiheadAttention against the per-head formula, Dropout's modes).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "autograd/ops/attention.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

Tensor randn64(const Shape& shape, Generator& gen) {
  return Tensor::randn(shape, {.dtype = kFloat64}, &gen).requires_grad_();
}

// Gradient check of module.forward over x and every parameter of the module.
void check_layer_grads(nn::Module& module, const Tensor& x,
                       std::function<Tensor(const Tensor&)> forward = nullptr) {
  module.to(kFloat64);
  if (!forward) forward = [&](const Tensor& in) { return module.forward(in); };
  std::vector<Tensor> inputs;
  if (x.requires_grad()) inputs.push_back(x);
  for (const auto& p : module.parameters()) inputs.push_back(p);
  // gradcheck perturbs the tensors it is given in place, so the closure can ignore its
  // argument and run the module on the same handles. The clone matters for layers whose
  // output is a view of the input (Identity, Flatten): gradcheck keeps f(x + ε) while
  // it evaluates f(x - ε), and a view would follow the input back.
  const auto result =
      gradcheck([&](const std::vector<Tensor>&) { return forward(x).clone(); }, inputs);
  CHECK_MESSAGE(result.ok, module.name() << ": " << result.message);
}

struct Stats {
  double min, max, mean, var;
};
Stats stats(const Tensor& t) {
  const auto v = t.to_vector<double>();
  Stats s{INFINITY, -INFINITY, 0, 0};
  for (double x : v) {
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    s.mean += x;
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.var += (x - s.mean) * (x - s.mean);
  s.var /= static_cast<double>(v.size() - 1);
  return s;
}

// U(-b, b): values inside, mean 0, variance b²/3 (to a few standard errors).
void check_uniform(const Tensor& t, double b) {
  const Stats s = stats(t);
  const double n = static_cast<double>(t.numel());
  CHECK(s.min >= -b);
  CHECK(s.max <= b);
  CHECK(s.min < -0.9 * b);  // the whole range is used
  CHECK(s.max > 0.9 * b);
  CHECK(std::abs(s.mean) < 5 * b / std::sqrt(3 * n));
  // Var(x²) = 4b⁴/45 for U(-b, b): the sample variance's standard error.
  CHECK(std::abs(s.var - b * b / 3) < 5 * std::sqrt(4.0 / 45) * b * b / std::sqrt(n));
}

}  // namespace

// ---- gradient checks -------------------------------------------------------------

TEST_CASE("linear: gradcheck over input, weight and bias (batched input)") {
  Generator gen(1);
  nn::Linear fc(4, 3);
  check_layer_grads(fc, randn64({2, 5, 4}, gen));
  nn::Linear no_bias(4, 2, /*bias=*/false);
  check_layer_grads(no_bias, randn64({3, 4}, gen));
  CHECK_THROWS_WITH_AS(fc.forward(Tensor::zeros({2, 5}, {.dtype = kFloat64})),
                       doctest::Contains("in_features = 4"), Error);
}

TEST_CASE("conv: Conv2d gradcheck with stride, padding, dilation and groups") {
  Generator gen(2);
  nn::Conv2d conv(2, 3, 3, {.padding = 1});
  check_layer_grads(conv, randn64({2, 2, 5, 5}, gen));
  nn::Conv2d strided(4, 4, {3, 2}, {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2},
                                    .groups = 2, .bias = false});
  check_layer_grads(strided, randn64({1, 4, 5, 6}, gen));
  CHECK(strided.weight.shape() == Shape{4, 2, 3, 2});
}

TEST_CASE("norm: GroupNorm, LayerNorm and BatchNorm2d gradchecks") {
  Generator gen(3);
  nn::GroupNorm gn(2, 4);
  nn::init::normal_(gn.weight, 1, 0.5, &gen);  // away from the trivial affine map
  nn::init::normal_(gn.bias, 0, 0.5, &gen);
  check_layer_grads(gn, randn64({2, 4, 3, 3}, gen));

  nn::LayerNorm ln({3, 4});
  nn::init::normal_(ln.weight, 1, 0.5, &gen);
  check_layer_grads(ln, randn64({2, 3, 4}, gen));

  nn::BatchNorm2d bn(3);
  nn::init::normal_(bn.weight, 1, 0.5, &gen);
  check_layer_grads(bn, randn64({4, 3, 2, 2}, gen));  // training: batch statistics
  bn.eval();
  check_layer_grads(bn, randn64({2, 3, 2, 2}, gen));  // eval: running statistics
}

TEST_CASE("attention: MultiheadAttention gradcheck on sequences and feature maps") {
  Generator gen(4);
  nn::MultiheadAttention mha(8, 2);
  nn::init::normal_(mha.in_proj_bias, 0, 0.1, &gen);  // exercise the biases' gradients
  check_layer_grads(mha, randn64({2, 3, 8}, gen));
  check_layer_grads(mha, randn64({1, 8, 2, 2}, gen),
                    [&](const Tensor& x) { return mha.forward_feature_map(x); });
  // Cross-attention with an additive mask.
  const Tensor kv = randn64({2, 4, 8}, gen);
  const Tensor mask = causal_attention_mask(3, 4, kFloat64);
  check_layer_grads(mha, randn64({2, 3, 8}, gen),
                    [&](const Tensor& q) { return mha.forward(q, kv, kv, mask); });
}

TEST_CASE("embedding: gradcheck over the table") {
  Generator gen(5);
  nn::Embedding emb(5, 3);
  const Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{0, 2, 2, 4, 1, 0}, {2, 3},
                                         {.dtype = kInt64});
  check_layer_grads(emb, idx);
  CHECK(emb.forward(idx).shape() == Shape{2, 3, 3});
}

TEST_CASE("pool: AvgPool2d, MaxPool2d and Upsample gradchecks") {
  Generator gen(6);
  nn::AvgPool2d avg(2);
  check_layer_grads(avg, randn64({1, 2, 4, 4}, gen));
  nn::AvgPool2d avg_padded(3, 2, 1);
  check_layer_grads(avg_padded, randn64({1, 1, 5, 5}, gen));
  nn::MaxPool2d maxp(2);
  check_layer_grads(maxp, randn64({1, 2, 4, 4}, gen));
  CHECK(maxp.forward(Tensor::zeros({1, 1, 6, 4})).shape() == Shape{1, 1, 3, 2});
  nn::Upsample nearest(2.0);
  check_layer_grads(nearest, randn64({1, 2, 2, 3}, gen));
  nn::Upsample bilinear(2.0, InterpolateMode::Bilinear);
  check_layer_grads(bilinear, randn64({1, 1, 3, 3}, gen));
  CHECK(bilinear.forward(Tensor::zeros({2, 1, 3, 3})).shape() == Shape{2, 1, 6, 6});
}

TEST_CASE("activation: ReLU, SiLU, GELU, Sigmoid, Tanh, Identity, Flatten and Sequential") {
  Generator gen(7);
  // Away from ReLU's kink at 0.
  Tensor x = (Tensor::rand({3, 4}, {.dtype = kFloat64}, &gen) + 0.1) *
             Tensor::tensor({1, -1, 1, -1}, {.dtype = kFloat64});
  x = x.detach().requires_grad_();
  nn::ReLU relu;
  nn::SiLU silu;
  nn::GELU gelu;
  nn::Sigmoid sigmoid;
  nn::Tanh tanh_;
  nn::Identity id;
  for (nn::Module* m : std::vector<nn::Module*>{&relu, &silu, &gelu, &sigmoid, &tanh_, &id})
    check_layer_grads(*m, x);
  nn::Flatten flatten;
  check_layer_grads(flatten, randn64({2, 2, 3}, gen));
  CHECK(flatten.forward(Tensor::zeros({2, 3, 4, 5})).shape() == Shape{2, 60});
  nn::Sequential seq(std::make_shared<nn::Linear>(4, 6), std::make_shared<nn::SiLU>(),
                     std::make_shared<nn::Linear>(6, 2));
  check_layer_grads(seq, randn64({3, 4}, gen));
}

TEST_CASE("dropout: gradcheck with a fixed mask, identity in eval mode") {
  Generator gen(8);
  Generator mask_gen(99);
  nn::Dropout drop(0.3, &mask_gen);
  const auto state = mask_gen.state();
  // Every evaluation must draw the same mask: rewind the generator first.
  check_layer_grads(drop, randn64({4, 5}, gen), [&](const Tensor& x) {
    mask_gen.set_state(state);
    return drop.forward(x);
  });
  Tensor ones = Tensor::ones({1000});
  mask_gen.set_state(state);
  const auto y = drop.forward(ones).to_vector<double>();
  int zeros = 0;
  for (double v : y) {
    if (v == 0) ++zeros;
    else CHECK(v == doctest::Approx(1 / 0.7));
  }
  CHECK(zeros > 230);  // ~300 expected, binomial sd ≈ 14.5
  CHECK(zeros < 370);
  drop.eval();
  CHECK(drop.forward(ones).is_same(ones));
}

// ---- behaviour -----------------------------------------------------------------------

TEST_CASE("norm: BatchNorm2d updates its buffers in training and uses them in eval") {
  Generator gen(9);
  nn::BatchNorm2d bn(2, 1e-5, 0.1);
  Tensor x = Tensor::randn({8, 2, 3, 3}, {}, &gen) * 2.0 + 1.0;
  Tensor y = bn.forward(x);
  CHECK(bn.num_batches_tracked.item() == 1);
  const Tensor batch_mean = x.mean({0, 2, 3});
  const Tensor batch_var = x.var({0, 2, 3}, 1);  // unbiased in the running estimate
  for (int c = 0; c < 2; ++c) {
    CHECK(bn.running_mean.at({c}) == doctest::Approx(0.1 * batch_mean.at({c})).epsilon(1e-5));
    CHECK(bn.running_var.at({c}) ==
          doctest::Approx(0.9 + 0.1 * batch_var.at({c})).epsilon(1e-5));
  }
  CHECK(std::abs(y.mean().item()) < 1e-5);
  bn.eval();
  const Tensor z = bn.forward(x);
  CHECK(bn.num_batches_tracked.item() == 1);  // eval leaves the buffers alone
  const Tensor expected =
      (x - bn.running_mean.view({1, 2, 1, 1})) / (bn.running_var.view({1, 2, 1, 1}) + 1e-5).sqrt();
  CHECK((z - expected).abs().max().item() < 1e-5);
  bn.reset_running_stats();
  CHECK(bn.running_var.sum().item() == 2);
  CHECK(bn.num_batches_tracked.item() == 0);
}

TEST_CASE("attention: MultiheadAttention matches the per-head formula") {
  Generator gen(10);
  const std::int64_t B = 2, L = 3, E = 4, H = 2, D = 2;
  nn::MultiheadAttention mha(E, H);
  mha.to(kFloat64);
  nn::init::normal_(mha.in_proj_bias, 0, 0.3, &gen);
  nn::init::normal_(mha.out_proj->bias, 0, 0.3, &gen);
  const Tensor x = Tensor::randn({B, L, E}, {.dtype = kFloat64}, &gen);
  const Tensor y = mha.forward(x);
  REQUIRE(y.shape() == Shape{B, L, E});
  // Reference: explicit loops over heads with softmax(q kᵀ/√D) v.
  const Tensor qkv = x.matmul(mha.in_proj_weight.t()) + mha.in_proj_bias;  // (B, L, 3E)
  std::vector<Tensor> heads;
  for (std::int64_t h = 0; h < H; ++h) {
    const Tensor q = qkv.narrow(2, h * D, D);
    const Tensor k = qkv.narrow(2, E + h * D, D);
    const Tensor v = qkv.narrow(2, 2 * E + h * D, D);
    const Tensor w = (q.matmul(k.transpose(1, 2)) / std::sqrt(double(D))).softmax(-1);
    heads.push_back(w.matmul(v));
  }
  const Tensor ref = mha.out_proj->forward(cat(heads, 2));
  CHECK((y - ref).abs().max().item() < 1e-12);
  // The feature-map helper is the same attention over the H·W positions.
  const Tensor fmap = Tensor::randn({B, E, 2, 3}, {.dtype = kFloat64}, &gen);
  const Tensor seq = fmap.flatten(2).transpose(1, 2);
  const Tensor via_seq = mha.forward(seq).transpose(1, 2).reshape({B, E, 2, 3});
  CHECK((mha.forward_feature_map(fmap) - via_seq).abs().max().item() < 1e-12);
  CHECK_THROWS_WITH_AS(nn::MultiheadAttention(6, 4), doctest::Contains("multiple of num_heads"),
                       Error);
}

// ---- initialisation ------------------------------------------------------------------

TEST_CASE("linear: default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias") {
  manual_seed(123);
  nn::Linear fc(256, 128);
  const double b = 1.0 / std::sqrt(256.0);
  check_uniform(fc.weight, b);
  const Stats sb = stats(fc.bias);
  CHECK(sb.min >= -b);
  CHECK(sb.max <= b);
  // The same generator state gives the same weights.
  Generator g1(5), g2(5);
  nn::Linear a(8, 8), c(8, 8);
  a.reset_parameters(&g1);
  c.reset_parameters(&g2);
  CHECK(a.weight.to_vector<float>() == c.weight.to_vector<float>());
  CHECK(a.bias.to_vector<float>() == c.bias.to_vector<float>());
}

TEST_CASE("conv: default init uses fan_in = C_in/groups * KH * KW") {
  manual_seed(7);
  nn::Conv2d conv(32, 64, 3, {.groups = 2});  // fan_in = 16·9 = 144
  check_uniform(conv.weight, 1.0 / 12.0);
  CHECK(stats(conv.bias).max <= 1.0 / 12.0);
}

TEST_CASE("init: norms start at ones/zeros, Embedding at N(0,1), attention at xavier") {
  manual_seed(8);
  nn::GroupNorm gn(4, 8);
  CHECK(gn.weight.sum().item() == 8);
  CHECK(gn.bias.abs().sum().item() == 0);
  nn::LayerNorm ln({6});
  CHECK(ln.weight.sum().item() == 6);
  nn::BatchNorm2d bn(5, 1e-5, 0.1, /*affine=*/false);
  CHECK_FALSE(bn.weight.defined());
  CHECK(bn.num_parameters() == 0);
  CHECK(bn.named_buffers().size() == 3);

  nn::Embedding emb(200, 100);
  const Stats se = stats(emb.weight);
  CHECK(std::abs(se.mean) < 5 / std::sqrt(20000.0));
  CHECK(std::abs(se.var - 1) < 5 * std::sqrt(2.0 / 20000.0));

  nn::MultiheadAttention mha(64, 4);
  check_uniform(mha.in_proj_weight, std::sqrt(6.0 / (64 + 192)));
  CHECK(mha.in_proj_bias.abs().sum().item() == 0);
  CHECK(mha.out_proj->bias.abs().sum().item() == 0);
  check_uniform(mha.out_proj->weight, 1.0 / 8.0);
}

TEST_CASE("init: kaiming and xavier formulas, gains, fans") {
  using namespace nn::init;
  CHECK(calculate_gain(Nonlinearity::ReLU) == doctest::Approx(std::sqrt(2.0)));
  CHECK(calculate_gain(Nonlinearity::Tanh) == doctest::Approx(5.0 / 3));
  CHECK(calculate_gain(Nonlinearity::LeakyReLU, std::sqrt(5.0)) ==
        doctest::Approx(std::sqrt(1.0 / 3)));
  Tensor w = Tensor::empty({40, 30, 3, 3});
  CHECK(calculate_fan_in_and_fan_out(w) == std::pair<std::int64_t, std::int64_t>{270, 360});
  Generator gen(11);
  kaiming_uniform_(w, 0, FanMode::FanOut, Nonlinearity::ReLU, &gen);
  check_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 360));
  xavier_uniform_(w, 2.0, &gen);
  check_uniform(w, 2.0 * std::sqrt(6.0 / 630));
  Tensor big = Tensor::empty({300, 200}, {.dtype = kFloat64});
  const double n = 60000;
  kaiming_normal_(big, 0, FanMode::FanIn, Nonlinearity::ReLU, &gen);
  CHECK(std::abs(stats(big).var / (2.0 / 200) - 1) < 5 * std::sqrt(2 / n));
  xavier_normal_(big, 1.0, &gen);
  CHECK(std::abs(stats(big).var / (2.0 / 500) - 1) < 5 * std::sqrt(2 / n));
  normal_(big, 3.0, 0.5, &gen);
  CHECK(stats(big).mean == doctest::Approx(3.0).epsilon(0.01));
  constant_(big, 2.5);
  CHECK(stats(big).min == 2.5);
  CHECK(stats(big).max == 2.5);
  CHECK_THROWS_AS(uniform_(Tensor::zeros({2}, {.dtype = kInt64})), Error);
  CHECK_THROWS_WITH_AS(calculate_fan_in_and_fan_out(Tensor::zeros({3})),
                       doctest::Contains("at least 2 dims"), Error);
}
