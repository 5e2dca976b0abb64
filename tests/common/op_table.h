#pragma once
// The table of differentiable ops that the test suites share (the ggml / micrograd
// habit: one table, every backend):
//   tests/autograd/gradcheck_ops_test.cpp   gradchecks core_op_table() on the CPU,
//   tests/cuda/                             gradchecks nn_op_table() on the CPU (so every
//                                           row is known good here), and on a GPU runs
//                                           both tables in float64 gradchecks and as
//                                           float32 CPU-vs-GPU comparisons.
// A row is a function of its inputs; anything else it needs (an index, a mask, a
// generator) it makes inside, on its first input's device, so one row runs anywhere.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "kiln.h"

namespace kiln::test {

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;  // input shapes
  std::function<Tensor(const std::vector<Tensor>&)> f;
  // Keeps inputs inside the op's domain (log of positives, ...): maps raw N(0,1) values.
  std::function<Tensor(const Tensor&)> domain = nullptr;
  // The longest sum behind one output or gradient value (1 for element-wise ops; for a
  // convolution the largest of C_in/g·KH·KW, C_out/g·KH·KW and N·H_out·W_out): sets the
  // float32 CPU-vs-GPU tolerance (Note [CPU-GPU tolerances] in tests/cuda/parity.h).
  std::int64_t k = 1;
};

inline Tensor positive(const Tensor& x) { return x.abs() + 0.5; }
// Away from kinks (abs, relu, clamp at ±0.3) so central differences stay smooth.
inline Tensor away_from_kinks(const Tensor& x) { return x.sign() * (x.abs() + 0.35); }

// An int64 index tensor on `like`'s device.
inline Tensor index_on(const Tensor& like, std::vector<std::int64_t> values, const Shape& shape) {
  return Tensor::from_vector(values, shape, {.dtype = kInt64, .device = like.device()});
}

using V = const std::vector<Tensor>&;

// The core ops: element-wise, reductions, softmax, matmul, views, indexing.
inline std::vector<OpCase> core_op_table() {
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
      {"sum", {{3, 4, 2}}, [](V x) { return x[0].sum(); }, nullptr, 24},
      {"sum_dims", {{3, 4, 2}}, [](V x) { return x[0].sum({0, 2}); }, nullptr, 6},
      {"sum_keepdim", {{3, 4, 2}}, [](V x) { return x[0].sum({1}, true); }, nullptr, 4},
      {"mean", {{3, 4, 2}}, [](V x) { return x[0].mean({-1}); }, nullptr, 2},
      {"var", {{3, 4, 2}}, [](V x) { return x[0].var({0, 1}); }, nullptr, 12},
      {"std", {{3, 4, 2}}, [](V x) { return x[0].std({1}, 0, true); }, nullptr, 4},
      {"max", {{3, 4, 2}}, [](V x) { return x[0].max({1}); }, nullptr, 4},
      {"min", {{3, 4, 2}}, [](V x) { return x[0].min(); }, nullptr, 24},
      {"logsumexp", {{3, 4, 2}}, [](V x) { return x[0].logsumexp({1}); }, nullptr, 4},
      {"softmax", {{3, 4, 2}}, [](V x) { return x[0].softmax(1); }, nullptr, 4},
      {"log_softmax", {{3, 4, 2}}, [](V x) { return x[0].log_softmax(-1); }, nullptr, 2},
      {"matmul", {{3, 4}, {4, 5}}, [](V x) { return x[0].matmul(x[1]); }, nullptr, 5},
      {"matmul_batched", {{2, 3, 4}, {4, 5}}, [](V x) { return x[0].matmul(x[1]); }, nullptr, 6},
      {"matmul_vec", {{4}, {4, 3}}, [](V x) { return x[0].matmul(x[1]); }, nullptr, 4},
      {"matmul_dot", {{5}, {5}}, [](V x) { return x[0].matmul(x[1]); }, nullptr, 5},
      {"bmm", {{2, 3, 4}, {2, 4, 2}}, [](V x) { return x[0].bmm(x[1]); }, nullptr, 4},
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
      {"expand", {{3, 1}}, [](V x) { return x[0].expand({2, 3, 4}).exp(); }, nullptr, 8},
      {"clone", {{3, 4}}, [](V x) { return x[0].clone().sin(); }},
      {"cat", {{2, 3}, {4, 3}}, [](V x) { return cat({x[0], x[1]}, 0).exp(); }},
      {"stack", {{2, 3}, {2, 3}}, [](V x) { return stack({x[0], x[1]}, 1).exp(); }},
      {"split", {{5, 3}}, [](V x) { return x[0].split(2, 0)[2].exp(); }},
      {"chunk", {{3, 6}}, [](V x) { return x[0].chunk(3, 1)[1].exp(); }},
      {"gather", {{3, 4}},
       [](V x) { return x[0].gather(1, index_on(x[0], {0, 3, 3, 1, 2, 0}, {3, 2})).exp(); }},
      {"index_select", {{4, 3}},
       [](V x) { return x[0].index_select(0, index_on(x[0], {2, 0, 2}, {3})).exp(); }},
      {"repeat", {{2, 3}}, [](V x) { return x[0].repeat({2, 1, 2}).exp(); }},
      {"pad", {{2, 3}}, [](V x) { return pad(x[0], {1, 2, 0, 1}, 0.5).exp(); }},
  };
}

// The ops of the nn layers: every heavy kernel family (conv, pooling, resampling, the
// three norms) and the composite ops built on the core (attention, dropout, losses,
// embedding, the adjoint index ops).
inline std::vector<OpCase> nn_op_table() {
  const auto mask_like = [](const Tensor& q, std::int64_t Lq, std::int64_t Lk) {
    // An additive mask hiding key j > query i + 1, on q's device.
    const Tensor i = Tensor::arange(static_cast<double>(Lq), {.dtype = kInt64}).reshape({Lq, 1});
    const Tensor j = Tensor::arange(static_cast<double>(Lk), {.dtype = kInt64}).reshape({1, Lk});
    return additive_attention_mask((j <= i + 1.0).to(q.device()), q.dtype());
  };
  return {
      {"conv2d", {{2, 3, 5, 5}, {4, 3, 3, 3}, {4}},
       [](V x) { return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}); }, nullptr, 50},
      {"conv2d_stride_dilation", {{2, 2, 7, 6}, {3, 2, 2, 3}},
       [](V x) { return conv2d(x[0], x[1], {}, {2, 1}, {1, 0}, {2, 1}); }, nullptr, 32},
      {"conv2d_groups", {{2, 4, 5, 5}, {6, 2, 3, 3}, {6}},
       [](V x) { return conv2d(x[0], x[1], x[2], {2, 2}, {1, 1}, {1, 1}, 2); }, nullptr, 27},
      {"conv2d_pointwise", {{2, 3, 4, 4}, {5, 3, 1, 1}, {5}},
       [](V x) { return conv2d(x[0], x[1], x[2]); }, nullptr, 32},
      {"avg_pool2d", {{2, 2, 5, 6}}, [](V x) { return avg_pool2d(x[0], {3, 2}, {2, 2}, {1, 1}); },
       nullptr, 6},
      {"max_pool2d", {{2, 2, 5, 6}}, [](V x) { return max_pool2d(x[0], {2, 3}, {1, 2}, {1, 1}); }},
      {"interpolate_nearest", {{1, 2, 3, 4}},
       [](V x) { return interpolate(x[0], 2.0, InterpolateMode::Nearest); }, nullptr, 4},
      {"interpolate_nearest_size", {{1, 2, 5, 4}},
       [](V x) { return interpolate(x[0], {3, 7}, InterpolateMode::Nearest); }, nullptr, 4},
      {"interpolate_bilinear", {{1, 2, 3, 4}},
       [](V x) { return interpolate(x[0], 2.0, InterpolateMode::Bilinear); }, nullptr, 16},
      {"interpolate_bilinear_size", {{2, 1, 5, 4}},
       [](V x) { return interpolate(x[0], {3, 7}, InterpolateMode::Bilinear); }, nullptr, 16},
      {"group_norm", {{2, 4, 3, 2}, {4}, {4}}, [](V x) { return group_norm(x[0], 2, x[1], x[2]); },
       nullptr, 12},
      {"layer_norm", {{3, 2, 4}, {2, 4}, {2, 4}},
       [](V x) { return layer_norm(x[0], {2, 4}, x[1], x[2]); }, nullptr, 8},
      {"batch_norm_train", {{3, 2, 2, 2}, {2}, {2}},
       [](V x) { return batch_norm(x[0], {}, {}, x[1], x[2], true); }, nullptr, 12},
      {"batch_norm_eval", {{3, 2, 4}, {2}, {2}},
       [](V x) {
         const Options o{.dtype = x[0].dtype(), .device = x[0].device()};
         const Tensor rm = Tensor::tensor({0.1, -0.2}, o), rv = Tensor::tensor({0.5, 2.0}, o);
         return batch_norm(x[0], rm, rv, x[1], x[2], false);
       },
       nullptr, 12},
      {"attention", {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}},
       [](V x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, nullptr, 5},
      {"attention_masked", {{1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 2}},
       [mask_like](V x) {
         return scaled_dot_product_attention(x[0], x[1], x[2], mask_like(x[0], 3, 5));
       },
       nullptr, 5},
      {"dropout", {{4, 5}},
       [](V x) {
         Generator gen(17);  // the same mask on every call and on every device
         return dropout(x[0], 0.3, true, &gen);
       }},
      {"mse_loss", {{3, 4}, {3, 4}}, [](V x) { return mse_loss(x[0], x[1]); }, nullptr, 12},
      {"l1_loss", {{3, 4}, {3, 4}}, [](V x) { return l1_loss(x[0], x[1], Reduction::Sum); },
       away_from_kinks, 12},
      {"cross_entropy", {{4, 5}},
       [](V x) { return cross_entropy(x[0], index_on(x[0], {1, 0, 4, 2}, {4}), Reduction::Mean, 0.1); },
       nullptr, 20},
      {"cross_entropy_spatial", {{2, 3, 2, 2}},
       [](V x) {
         return cross_entropy(x[0], index_on(x[0], {0, 2, 1, 1, 2, 0, 0, 1}, {2, 2, 2}),
                              Reduction::Sum);
       },
       nullptr, 8},
      {"embedding", {{5, 3}},
       [](V x) { return embedding(x[0], index_on(x[0], {4, 0, 4, 2, 1, 4}, {2, 3})).exp(); },
       nullptr, 3},
      {"scatter_add", {{3, 4}, {3, 2}},
       [](V x) { return scatter_add(x[0], 1, index_on(x[0], {0, 3, 3, 3, 1, 1}, {3, 2}), x[1]); },
       nullptr, 2},
      {"index_add", {{4, 3}, {3, 3}},
       [](V x) { return index_add(x[0], 0, index_on(x[0], {2, 0, 2}, {3}), x[1]); }, nullptr, 2},
  };
}

// A random float64 leaf of `shape`, in `dtype` on `device`, requiring grad. The values
// are drawn on the CPU from gen (mapped into op.domain) and then converted and moved, so
// the same gen state gives the same values on every device. variant 1 makes it a
// permuted view and variant 2 a sliced one, so the ops see non-contiguous strides.
inline Tensor make_input(const Shape& shape, int variant, const OpCase& op, Generator& gen,
                         DType dtype = kFloat64, Device device = Device::cpu()) {
  auto fill = [&](const Shape& s) {
    Tensor raw = Tensor::randn(s, {.dtype = kFloat64}, &gen);
    raw = op.domain ? op.domain(raw) : raw;
    return raw.to(dtype).to(device);
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

// Whether variant `variant` of op differs from variant 0 (1-D inputs cannot be permuted).
inline bool variant_applies(const std::vector<Tensor>& inputs, const OpCase& op, int variant) {
  if (variant == 0) return true;
  bool any_strided = false;
  for (const auto& x : inputs) any_strided = any_strided || !x.is_contiguous();
  return any_strided || op.shapes[0].size() >= 2 || variant != 1;
}

// Gradchecks every row of `ops` in float64 on `device` (autograd/gradcheck.h), each with
// contiguous, permuted and sliced inputs drawn from gen; a failure names the row and the
// variant. Returns how many (row, variant) pairs were checked.
inline int gradcheck_table(const std::vector<OpCase>& ops, Generator& gen,
                           Device device = Device::cpu()) {
  int checked = 0;
  for (const auto& op : ops) {
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<Tensor> inputs;
      for (const auto& s : op.shapes)
        inputs.push_back(make_input(s, variant, op, gen, kFloat64, device));
      if (!variant_applies(inputs, op, variant)) continue;  // 1-D: no permute
      const auto result = autograd::gradcheck(op.f, inputs);
      INFO("op ", op.name, " variant ", variant, " on ", device, ": ", result.message);
      CHECK(result.ok);
      ++checked;
    }
  }
  return checked;
}

}  // namespace kiln::test
