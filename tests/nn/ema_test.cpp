// E30 (EMA of weights): the shadow follows θ_ema ← m θ_ema + (1-m) θ exactly, buffers
// are copied, apply_to/restore swap weights in and out, and the state round-trips.
#include <doctest/doctest.h>

#include <cmath>

#include "kiln.h"

using namespace kiln;

namespace {
struct Tiny : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(2, 2));
  std::shared_ptr<nn::BatchNorm2d> bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(2));
};

void set_all(nn::Module& m, double offset) {
  NoGradGuard g;
  for (const auto& [name, p] : m.named_parameters()) {
    Tensor d = p.detach();
    d.copy_(Tensor::arange(0, static_cast<double>(p.numel()), 1, {.dtype = p.dtype()})
                .reshape(p.shape()) +
            offset);
  }
}
}  // namespace

TEST_CASE("ema: E30 update against the formula, buffers copied") {
  Tiny model;
  model.to(kFloat64);
  set_all(model, 0.0);
  nn::EMA ema(model, 0.9);
  // The shadow starts as a copy, not an alias.
  CHECK_FALSE(ema.shadow().at("fc.weight").shares_storage_with(model.fc->weight));

  std::vector<double> expected = model.fc->weight.to_vector<double>();  // θ_ema(0) = θ(0)
  for (int step = 1; step <= 3; ++step) {
    set_all(model, 10.0 * step);  // θ changes
    model.bn->running_mean.fill_(step);
    ema.update(model);
    const auto theta = model.fc->weight.to_vector<double>();
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = 0.9 * expected[i] + 0.1 * theta[i];
    const auto got = ema.shadow().at("fc.weight").to_vector<double>();
    for (size_t i = 0; i < expected.size(); ++i)
      CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-14));
    // Buffers follow the model exactly.
    CHECK(ema.shadow().at("bn.running_mean").to_vector<double>() ==
          std::vector<double>{double(step), double(step)});
  }
  CHECK(ema.num_updates() == 3);
  // Literal values for element 0: 0.9³·0 + ... with θ = 10, 20, 30:
  // ((0·0.9 + 1)·0.9 + 2)·0.9 + 3 = 5.61
  CHECK(ema.shadow().at("fc.weight").at({0, 0}) == doctest::Approx(5.61));
}

TEST_CASE("ema: warm-up decay min(m, (1+n)/(10+n))") {
  Tiny model;
  nn::EMA ema(model, 0.999, /*warmup=*/true);
  CHECK(ema.current_decay() == doctest::Approx(0.1));
  ema.update(model);
  CHECK(ema.current_decay() == doctest::Approx(2.0 / 11));
  nn::EMA plain(model, 0.999);
  CHECK(plain.current_decay() == 0.999);
}

TEST_CASE("ema: apply_to / restore and copy_to") {
  Tiny model;
  set_all(model, 0.0);
  nn::EMA ema(model, 0.5);
  set_all(model, 4.0);
  ema.update(model);  // shadow = θ0·0.5 + (θ0+4)·0.5 = θ0 + 2
  const auto trained = model.fc->weight.to_vector<float>();
  Tensor handle = model.fc->weight;
  {
    nn::EMA::Applied use(ema, model);
    CHECK(model.fc->weight.at({0, 0}) == doctest::Approx(2.0));
    CHECK(handle.is_same(model.fc->weight));
    CHECK_THROWS_WITH_AS(ema.apply_to(model), doctest::Contains("already applied"), Error);
  }
  CHECK(model.fc->weight.to_vector<float>() == trained);
  CHECK_THROWS_WITH_AS(ema.restore(model), doctest::Contains("nothing to restore"), Error);
  ema.copy_to(model);
  CHECK(model.fc->weight.at({0, 0}) == doctest::Approx(2.0));

  nn::Linear other(2, 3);
  CHECK_THROWS_WITH_AS(ema.update(other), doctest::Contains("does not match"), Error);
}

TEST_CASE("ema: state_dict round trip") {
  Tiny model;
  nn::EMA a(model, 0.9);
  set_all(model, 1.0);
  a.update(model);
  a.update(model);
  Tiny other;
  nn::EMA b(other, 0.9);
  nn::OrderedDict<Tensor> saved;
  for (const auto& [k, v] : a.state_dict()) saved.insert(k, v.clone());
  CHECK(saved.contains("shadow.fc.weight"));
  CHECK(saved.contains("shadow.bn.num_batches_tracked"));
  b.load_state_dict(saved);
  CHECK(b.num_updates() == 2);
  for (const auto& [k, v] : a.shadow())
    CHECK(b.shadow().at(k).to_vector<double>() == v.to_vector<double>());
  saved.insert_or_assign("shadow.fc.bias", Tensor::zeros({5}));
  CHECK_THROWS_WITH_AS(b.load_state_dict(saved),
                       doctest::Contains("shape of shadow.fc.bias: [5] in the dict vs [2]"), Error);
}
