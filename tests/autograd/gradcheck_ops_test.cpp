// The table-driven gradient check: every differentiable op of the core, on random
// float64 inputs, against central finite differences (autograd/gradcheck.h). Each row
// runs three times: contiguous inputs, non-contiguous inputs (a permuted and a sliced
// leaf), and broadcast inputs (expanded inside the function). The test prints the
// ops it covered.
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <set>
#include <string>

#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;  // input shapes
  std::function<Tensor(const std::vector<Tensor>&)> f;
  // Keeps inputs inside the op's domain (log of positives, ...): maps raw N(0,1) values.
  std::function<Tensor(const Tensor&)> domain = nullptr;
};

Tensor positive(const Tensor& x) { return x.abs() + 0.5; }
// Away from kinks (abs, relu, clamp at ±0.3) so central differences stay smooth.
Tensor away_from_kinks(const Tensor& x) { return x.sign() * (x.abs() + 0.35); }

std::vector<OpCase> op_table() {
  using V = const std::vector<Tensor>&;
  return {
      {"neg", {{3, 4}}, [](V x) { return -x[0]; }},
      {"exp", {{3, 4}}, [](V x) { return x[0].exp(); }},
      {"log", {{3, 4}}, [](V x) { return x[0].log(); }, positive},
      {"log1p", {{3, 4}}, [](V x) { return x[0].log1p(); }, positive},
      {"expm1", {{3, 4}}, [](V x) { return x[0].expm1(); }},
      {"sqrt", {{3, 4}}, [](V x) { return x[0].sqrt(); }, positive},
      {"rsqrt", {{3, 4}}, [](V x) { return x[0].rsqrt(); }, positive},
      {"abs", {{3, 4}}, [](V x) { return x[0].abs(); }, away_from_kinks},
      {"sin", {{3, 4}}, [](V x) { return x[0].sin(); }},
      {"cos", {{3, 4}}, [](V x) { return x[0].cos(); }},
      {"tanh", {{3, 4}}, [](V x) { return x[0].tanh(); }},
      {"sigmoid", {{3, 4}}, [](V x) { return x[0].sigmoid(); }},
      {"silu", {{3, 4}}, [](V x) { return x[0].silu(); }},
      {"gelu", {{3, 4}}, [](V x) { return x[0].gelu(); }},
      {"relu", {{3, 4}}, [](V x) { return x[0].relu(); }, away_from_kinks},
      {"erf", {{3, 4}}, [](V x) { return x[0].erf(); }},
      {"square", {{3, 4}}, [](V x) { return x[0].square(); }},
      {"reciprocal", {{3, 4}}, [](V x) { return x[0].reciprocal(); }, positive},
      {"clamp", {{3, 4}}, [](V x) { return x[0].clamp(-0.3, 0.3); }, away_from_kinks},
      {"pow_scalar", {{3, 4}}, [](V x) { return x[0].pow(2.5); }, positive},
      {"add", {{3, 4}, {3, 4}}, [](V x) { return x[0] + x[1]; }},
      {"sub", {{3, 4}, {3, 4}}, [](V x) { return x[0] - x[1]; }},
      {"mul", {{3, 4}, {3, 4}}, [](V x) { return x[0] * x[1]; }},
      {"div", {{3, 4}, {3, 4}}, [](V x) { return x[0] / x[1]; }, positive},
      {"pow", {{3, 4}, {3, 4}}, [](V x) { return x[0].pow(x[1]); }, positive},
      {"maximum", {{3, 4}, {3, 4}}, [](V x) { return maximum(x[0], x[1]); }},
      {"minimum", {{3, 4}, {3, 4}}, [](V x) { return minimum(x[0], x[1]); }},
      {"where", {{3, 4}, {3, 4}}, [](V x) { return where(x[0] > x[1], x[0] * 2.0, x[1]); }},
      {"scalar_ops", {{3, 4}}, [](V x) { return (2.0 - x[0]) * 3.0 / (x[0] + 4.0); }, positive},
      {"sum", {{3, 4, 2}}, [](V x) { return x[0].sum(); }},
      {"sum_dims", {{3, 4, 2}}, [](V x) { return x[0].sum({0, 2}); }},
      {"sum_keepdim", {{3, 4, 2}}, [](V x) { return x[0].sum({1}, true); }},
      {"mean", {{3, 4, 2}}, [](V x) { return x[0].mean({-1}); }},
      {"var", {{3, 4, 2}}, [](V x) { return x[0].var({0, 1}); }},
      {"std", {{3, 4, 2}}, [](V x) { return x[0].std({1}, 0, true); }},
      {"max", {{3, 4, 2}}, [](V x) { return x[0].max({1}); }},
      {"min", {{3, 4, 2}}, [](V x) { return x[0].min(); }},
      {"logsumexp", {{3, 4, 2}}, [](V x) { return x[0].logsumexp({1}); }},
      {"softmax", {{3, 4, 2}}, [](V x) { return x[0].softmax(1); }},
      {"log_softmax", {{3, 4, 2}}, [](V x) { return x[0].log_softmax(-1); }},
      {"matmul", {{3, 4}, {4, 5}}, [](V x) { return x[0].matmul(x[1]); }},
      {"matmul_batched", {{2, 3, 4}, {4, 5}}, [](V x) { return x[0].matmul(x[1]); }},
      {"matmul_vec", {{4}, {4, 3}}, [](V x) { return x[0].matmul(x[1]); }},
      {"matmul_dot", {{5}, {5}}, [](V x) { return x[0].matmul(x[1]); }},
      {"bmm", {{2, 3, 4}, {2, 4, 2}}, [](V x) { return x[0].bmm(x[1]); }},
      {"reshape", {{3, 4}}, [](V x) { return x[0].reshape({2, 6}) * 2.0; }},
      {"view", {{3, 4}}, [](V x) { return x[0].contiguous().view({4, 3}).exp(); }},
      {"permute", {{3, 4, 2}}, [](V x) { return x[0].permute({2, 0, 1}).exp(); }},
      {"transpose", {{3, 4}}, [](V x) { return x[0].transpose(0, 1).sin(); }},
      {"squeeze", {{3, 1, 4}}, [](V x) { return x[0].squeeze(1).exp(); }},
      {"unsqueeze", {{3, 4}}, [](V x) { return x[0].unsqueeze(1).exp(); }},
      {"flatten", {{3, 4, 2}}, [](V x) { return x[0].flatten(1).exp(); }},
      {"narrow", {{5, 4}}, [](V x) { return x[0].narrow(0, 1, 3).exp(); }},
      {"slice_step", {{7, 4}}, [](V x) { return x[0].slice(0, 1, 7, 2).exp(); }},
      {"select", {{5, 4}}, [](V x) { return x[0].select(1, 2).exp(); }},
      {"expand", {{3, 1}}, [](V x) { return x[0].expand({2, 3, 4}).exp(); }},
      {"clone", {{3, 4}}, [](V x) { return x[0].clone().sin(); }},
      {"cat", {{2, 3}, {4, 3}}, [](V x) { return cat({x[0], x[1]}, 0).exp(); }},
      {"stack", {{2, 3}, {2, 3}}, [](V x) { return stack({x[0], x[1]}, 1).exp(); }},
      {"split", {{5, 3}}, [](V x) { return x[0].split(2, 0)[2].exp(); }},
      {"chunk", {{3, 6}}, [](V x) { return x[0].chunk(3, 1)[1].exp(); }},
      {"gather", {{3, 4}},
       [](V x) {
         const Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{0, 3, 3, 1, 2, 0},
                                                {3, 2}, {.dtype = kInt64});
         return x[0].gather(1, idx).exp();
       }},
      {"index_select", {{4, 3}},
       [](V x) {
         const Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{2, 0, 2}, {3},
                                                {.dtype = kInt64});
         return x[0].index_select(0, idx).exp();
       }},
      {"repeat", {{2, 3}}, [](V x) { return x[0].repeat({2, 1, 2}).exp(); }},
      {"pad", {{2, 3}}, [](V x) { return pad(x[0], {1, 2, 0, 1}, 0.5).exp(); }},
  };
}

// Random float64 leaf of `shape`; `variant` 1 makes it a permuted view, 2 a sliced one,
// so the ops see non-contiguous strides.
Tensor make_input(const Shape& shape, int variant, const OpCase& op, Generator& gen) {
  auto fill = [&](const Shape& s) {
    Tensor raw = Tensor::randn(s, {.dtype = kFloat64}, &gen);
    return op.domain ? op.domain(raw) : raw;
  };
  Tensor x;
  if (variant == 1 && shape.size() >= 2) {
    Shape rev(shape.rbegin(), shape.rend());
    std::vector<std::int64_t> order;
    for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d)
      order.push_back(d);
    x = fill(rev).permute(order);  // same logical shape, reversed strides
  } else if (variant == 2 && !shape.empty()) {
    Shape wide = shape;
    wide.back() = 2 * shape.back();
    x = fill(wide).slice(-1, 0, 2 * shape.back(), 2);  // every other column
  } else {
    x = fill(shape);
  }
  x = x.detach();
  x.requires_grad_(true);
  return x;
}

}  // namespace

TEST_CASE("gradcheck: every differentiable op, contiguous and non-contiguous inputs") {
  Generator gen(7);
  std::set<std::string> covered;
  for (const auto& op : op_table()) {
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<Tensor> inputs;
      for (const auto& s : op.shapes) inputs.push_back(make_input(s, variant, op, gen));
      if (variant > 0) {
        bool any_strided = false;
        for (const auto& x : inputs) any_strided = any_strided || !x.is_contiguous();
        if (!any_strided && op.shapes[0].size() < 2 && variant == 1) continue;  // 1-D: no permute
      }
      const auto result = gradcheck(op.f, inputs);
      INFO("op ", op.name, " variant ", variant, ": ", result.message);
      CHECK(result.ok);
    }
    covered.insert(op.name);
  }
  std::string list;
  for (const auto& n : covered) list += n + " ";
  std::printf("gradcheck covered %zu ops: %s\n", covered.size(), list.c_str());
  MESSAGE("gradcheck covered ", covered.size(), " ops: ", list);
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
