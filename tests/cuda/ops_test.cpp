// The op tables of tests/common/op_table.h on the GPU (test suite "gpu": reported as
// skipped where there is none, see tests/cuda/main.cpp):
//   - float32: every row's output and input gradients on the GPU against the CPU, with
//     the bounds of Note [CPU-GPU tolerances] (tests/cuda/parity.h);
//   - float64: every row gradchecked on the GPU against finite differences.
// Each row runs with contiguous, permuted and sliced inputs, as on the CPU.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "common/op_table.h"
#include "parity.h"
#include "kiln.h"

using namespace kiln;
using test::check_parity;
using test::gpu;

namespace {

std::vector<test::OpCase> all_ops() {
  auto ops = test::core_op_table();
  for (auto& op : test::nn_op_table()) ops.push_back(std::move(op));
  return ops;
}

}  // namespace

TEST_SUITE("gpu") {

// [region op_table_parity]
TEST_CASE("parity: every op of the tables, float32, forward and gradients, GPU against CPU") {
  int compared = 0;
  for (const auto& op : all_ops()) {
    for (int variant = 0; variant < 3; ++variant) {
      // The same draws on both devices: two generators in the same state.
      Generator gen_cpu(100 + variant), gen_gpu(100 + variant);
      std::vector<Tensor> xc, xg;
      for (const auto& s : op.shapes) {
        xc.push_back(test::make_input(s, variant, op, gen_cpu, kFloat32, Device::cpu()));
        xg.push_back(test::make_input(s, variant, op, gen_gpu, kFloat32, gpu()));
      }
      if (!test::variant_applies(xc, op, variant)) continue;
      const std::string what = fmt::format("{} (variant {})", op.name, variant);
      INFO(what);
      const Tensor yc = op.f(xc), yg = op.f(xg);
      CHECK(yg.device() == gpu());
      check_parity(yg, yc, op.k, what + " forward");
      // The same upstream gradient on both devices.
      Generator gen_g(7);
      const Tensor g = Tensor::randn(yc.shape(), {.dtype = kFloat32}, &gen_g);
      yc.backward(g);
      yg.backward(g.to(gpu()));
      for (size_t i = 0; i < xc.size(); ++i) {
        CHECK((!xg[i].grad().defined() || xg[i].grad().device() == gpu()));
        check_parity(xg[i].grad(), xc[i].grad(), op.k, fmt::format("{} grad of input {}", what, i));
      }
      ++compared;
    }
  }
  std::printf("cuda parity: %d op/variant pairs compared (float32)\n", compared);
  CHECK(compared > 200);
}
// [endregion]

TEST_CASE("gradcheck on the GPU: every op of the tables in float64") {
  Generator gen(7);
  const int checked = test::gradcheck_table(all_ops(), gen, gpu());
  std::printf("cuda gradcheck: %d op/variant pairs checked (float64)\n", checked);
}

TEST_CASE("gradcheck on the GPU: broadcasting reduces gradients back to each input's shape") {
  Generator gen(11);
  using V = const std::vector<Tensor>&;
  struct Case {
    const char* name;
    Shape a, b;
    std::function<Tensor(V)> f;
  };
  const std::vector<Case> cases = {
      {"add [3] + [4,3]", {3}, {4, 3}, [](V x) { return x[0] + x[1]; }},
      {"mul [4,1] * [1,3]", {4, 1}, {1, 3}, [](V x) { return x[0] * x[1]; }},
      {"sub [] - [2,3]", {}, {2, 3}, [](V x) { return x[0] - x[1]; }},
      {"where [1,3] , [2,1]", {1, 3}, {2, 1}, [](V x) { return where(x[0] > 0.0, x[0], x[1]); }},
      {"matmul batch broadcast [2,1,3,4] @ [3,4,2]", {2, 1, 3, 4}, {3, 4, 2},
       [](V x) { return x[0].matmul(x[1]); }},
  };
  for (const auto& c : cases) {
    const Options o{.dtype = kFloat64, .device = gpu()};
    Tensor a = Tensor::randn(c.a, o, &gen).requires_grad_();
    Tensor b = Tensor::randn(c.b, o, &gen).requires_grad_();
    const auto result = autograd::gradcheck(c.f, {a, b});
    INFO(c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

}  // TEST_SUITE("gpu")
