// The table-driven gradient check: every differentiable op of the core (the table is
// tests/common/op_table.h, shared with the CUDA suite), on random float64 inputs, against
// central finite differences (autograd/gradcheck.h). Each row runs three times:
// contiguous inputs, non-contiguous inputs (a permuted and a sliced leaf), and broadcast
// inputs (expanded inside the function). The test prints the ops it covered.
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <string>

#include "common/op_table.h"
#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

TEST_CASE("gradcheck: every differentiable op, contiguous and non-contiguous inputs") {
  Generator gen(7);
  const auto ops = test::core_op_table();
  const int checked = test::gradcheck_table(ops, gen);
  std::string list;
  for (const auto& op : ops) list += op.name + " ";
  std::printf("gradcheck covered %zu ops (%d op/variant pairs): %s\n", ops.size(), checked,
              list.c_str());
  MESSAGE("gradcheck covered ", ops.size(), " ops: ", list);
}

TEST_CASE("gradcheck: broadcasting reduces gradients back to each input's shape") {
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
      {"div [2,1,3] / [4,1]", {2, 1, 3}, {4, 1}, [](V x) { return x[0] / (x[1].abs() + 1.0); }},
      {"sub [] - [2,3]", {}, {2, 3}, [](V x) { return x[0] - x[1]; }},
      {"maximum [3] , [2,3]", {3}, {2, 3}, [](V x) { return maximum(x[0], x[1]); }},
      {"pow [2,3] ^ [3]", {2, 3}, {3}, [](V x) { return (x[0].abs() + 0.5).pow(x[1]); }},
      {"where [1,3] , [2,1]", {1, 3}, {2, 1}, [](V x) { return where(x[0] > 0.0, x[0], x[1]); }},
      {"matmul batch broadcast [2,1,3,4] @ [3,4,2]", {2, 1, 3, 4}, {3, 4, 2},
       [](V x) { return x[0].matmul(x[1]); }},
  };
  for (const auto& c : cases) {
    Tensor a = Tensor::randn(c.a, {.dtype = kFloat64}, &gen).requires_grad_();
    Tensor b = Tensor::randn(c.b, {.dtype = kFloat64}, &gen).requires_grad_();
    const auto result = gradcheck(c.f, {a, b});
    INFO(c.name, ": ", result.message);
    CHECK(result.ok);
  }
}

TEST_CASE("gradcheck: expanded (stride-0) inputs inside the function") {
  Generator gen(3);
  Tensor x = Tensor::randn({3, 1}, {.dtype = kFloat64}, &gen).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    const Tensor e = in[0].expand({3, 5});  // stride 0 along dim 1
    return (e * e.transpose(0, 1).transpose(0, 1)).sum({1}).exp();
  };
  const auto result = gradcheck(f, {x});
  INFO(result.message);
  CHECK(result.ok);
}

TEST_CASE("to(dtype) passes the gradient back in the input's dtype") {
  // Finite differences through float32 rounding are meaningless at ε = 1e-6, so this
  // op is checked analytically: the cast is the identity on values.
  Tensor x = Tensor::randn({5}, {.dtype = kFloat64}).requires_grad_();
  Tensor y = (x.to(kFloat32) * 3.0f).to(kFloat64).sum();
  y.backward();
  CHECK(x.grad().dtype() == kFloat64);
  for (double g : x.grad().to_vector<double>()) CHECK(g == 3.0);
}

TEST_CASE("gradcheck reports the input, element and both values when wrong") {
  // A deliberately wrong "op": forward x², backward claims 3x.
  Tensor x = Tensor::randn({4}, {.dtype = kFloat64}).requires_grad_();
  auto wrong = [](const std::vector<Tensor>& in) {
    return autograd::record("WrongSquareBackward", in[0].detach().square(), {in[0]},
                            [x = in[0]](const Tensor& g) {
                              return std::vector<Tensor>{g * 3.0 * x.detach()};
                            });
  };
  const auto result = gradcheck(wrong, {x});
  CHECK_FALSE(result.ok);
  CHECK(result.input == 0);
  CHECK(result.element >= 0);
  CHECK(result.message.find("analytic") != std::string::npos);
  CHECK(result.message.find("numeric") != std::string::npos);
}
