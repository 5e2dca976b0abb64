// Each CUDA kernel family against the CPU on sizes that reach its other code paths
// (long rows, split reductions, 64-bit strided loops, chunked convolutions, ...), the
// tensor plumbing on the GPU (factories, copies, views, item), the memory statistics,
// the random draws and the optimizers. Test suite "gpu": skipped where there is no GPU
// (tests/cuda/main.cpp). Tolerances: Note [CPU-GPU tolerances] in parity.h.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "cuda/conv.h"
#include "kiln.h"
#include "parity.h"
#include "tensor/detail.h"

using namespace kiln;
using test::check_parity;
using test::gpu;

namespace {

Tensor randn32(const Shape& s, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(s, {.dtype = kFloat32}, &gen);
}

}  // namespace

TEST_SUITE("gpu") {

// ---- tensor plumbing ------------------------------------------------------------------

TEST_CASE("cuda tensors: factories, copies both ways, views, item, fill") {
  const Options o{.dtype = kFloat32, .device = gpu()};
  CHECK(Tensor::zeros({2, 3}, o).device() == gpu());
  CHECK(Tensor::zeros({2, 3}, o).to_vector<double>() == std::vector<double>(6, 0.0));
  CHECK(Tensor::full({4}, 2.5, o).to_vector<float>() == std::vector<float>(4, 2.5f));
  CHECK(Tensor::arange(5.0, {.dtype = kInt64, .device = gpu()}).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK(Tensor::eye(3, o).sum().item() == 3.0);
  CHECK(Tensor::scalar(4.0, o).item() == 4.0);
  // Round trips, contiguous and strided, every dtype.
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    const Tensor c = (randn32({5, 7}, 1) * 10.0).to(dt);
    const Tensor g = c.to(gpu());
    check_parity(g, c, 0, "round trip");
    check_parity(g.t().contiguous(), c.t().contiguous(), 0, "transpose on the GPU");
    check_parity(g.slice(1, 1, 7, 3).to(Device::cpu()), c.slice(1, 1, 7, 3), 0, "strided to cpu");
    check_parity(c.t().to(gpu()), c.t(), 0, "strided to gpu");
    check_parity(g.to(kFloat64), c.to(kFloat64), 0, "dtype conversion on the GPU");
    // copy_ across devices and dtypes at once, both ways.
    Tensor host64 = Tensor::zeros({5, 7}, {.dtype = kFloat64});
    host64.copy_(g);
    check_parity(host64, c.to(kFloat64), 0, "copy_ gpu -> cpu with conversion");
    Tensor dev32 = Tensor::zeros({7, 5}, {.dtype = kFloat32, .device = gpu()});
    dev32.t().copy_(c);
    check_parity(dev32.t(), c.to(kFloat32), 0, "copy_ cpu -> strided gpu with conversion");
  }
  // fill_ and copy_ into a strided window of a GPU tensor.
  Tensor g = Tensor::zeros({4, 6}, o);
  g.slice(1, 0, 6, 2).fill_(1.0);
  g.narrow(0, 1, 2).copy_(Tensor::full({2, 6}, 3.0).to(gpu()));
  Tensor c = Tensor::zeros({4, 6});
  c.slice(1, 0, 6, 2).fill_(1.0);
  c.narrow(0, 1, 2).copy_(Tensor::full({2, 6}, 3.0));
  check_parity(g, c, 0, "fill_ and copy_ through views");
  // A broadcast copy from the CPU into a GPU view.
  Tensor b = Tensor::zeros({3, 4}, o);
  b.copy_(Tensor::arange(4.0, {.dtype = kFloat32}));
  CHECK(b.sum().item() == 18.0);
  CHECK(g.str().find("device='cuda:0'") != std::string::npos);
}

TEST_CASE("cuda tensors: large copies go through the pinned staging buffers intact") {
  // 9 MiB and 13 MiB: several 4 MiB chunks, both buffers, a partial last chunk.
  for (std::int64_t n : {std::int64_t(9) << 18, (std::int64_t(13) << 18) + 5}) {
    const Tensor c = Tensor::arange(static_cast<double>(n), {.dtype = kFloat32}) * 0.5;
    const Tensor g = c.to(gpu());
    const Tensor back = g.to(Device::cpu());
    check_parity(back, c, 0, "staged round trip");
    check_parity(g.to(kFloat64), c.to(kFloat64), 0, "staged copy then convert");
  }
}

TEST_CASE("cuda tensors: mixing devices is an error naming the op and both devices") {
  const Tensor a = Tensor::ones({3}), b = Tensor::ones({3}, {.device = gpu()});
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("add: tensors on different devices (cpu and cuda:0)"),
                       Error);
  CHECK_THROWS_WITH_AS(a.matmul(b), doctest::Contains("cuda:0"), Error);
  CHECK_THROWS_WITH_AS(cat({a, b}), doctest::Contains("cat: tensor 1 is on cuda:0"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::ones({1, 1, 3, 3}), Tensor::ones({1, 1, 1, 1}, {.device = gpu()})),
                       doctest::Contains("conv2d"), Error);
  CHECK_THROWS_WITH_AS(b.data_ptr<float>(), doctest::Contains("data_ptr: tensor is on cuda:0"), Error);
}

// ---- element-wise ---------------------------------------------------------------------

TEST_CASE("cuda elementwise: broadcasting and strided operands on every loop") {
  const Tensor a = randn32({64, 33, 17}, 2), b = randn32({33, 1}, 3), c = randn32({17, 33, 64}, 4);
  const Tensor ga = a.to(gpu()), gb = b.to(gpu()), gc = c.to(gpu());
  check_parity(ga + gb, a + b, 1, "broadcast add (strided loop)");
  check_parity(ga * gc.permute({2, 1, 0}), a * c.permute({2, 1, 0}), 1, "permuted mul");
  check_parity(ga.exp() * 2.0, a.exp() * 2.0, 1, "tensor-scalar (linear loop)");
  check_parity(2.0 / (ga.abs() + 1.0), 2.0 / (a.abs() + 1.0), 1, "scalar-tensor");
  check_parity(ga.slice(2, 0, 17, 3).gelu(), a.slice(2, 0, 17, 3).gelu(), 1, "sliced gelu");
  check_parity(where(ga > gb, ga, gb * 3.0), where(a > b, a, b * 3.0), 1, "where broadcast");
  check_parity(ga.clamp(-0.5, std::nullopt), a.clamp(-0.5, std::nullopt), 0, "clamp below");
  check_parity(maximum(ga, gb), maximum(a, b), 0, "maximum");
  // int64 arithmetic is exact on both.
  const Tensor i = Tensor::randint(-50, 50, {40, 30}, {.dtype = kInt64});
  const Tensor gi = i.to(gpu());
  check_parity(gi * gi - gi.abs() + gi.sign(), i * i - i.abs() + i.sign(), 0, "int64 ops");
  check_parity(gi.pow(gi.abs().clamp(0, 3)), i.pow(i.abs().clamp(0, 3)), 0, "int64 pow");
  CHECK_THROWS_WITH_AS(gi.exp(), doctest::Contains("exp: expects a floating dtype"), Error);
  // Every unary op, float32 and float64, over [-3, 3].
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = (randn32({1000}, 5) * 1.5).to(dt), gx = x.to(gpu());
    const Tensor pos = x.abs() + 0.1, gpos = gx.abs() + 0.1;
    check_parity(gx.exp(), x.exp(), 1, "exp");
    check_parity(gpos.log(), pos.log(), 1, "log");
    check_parity(gpos.log1p(), pos.log1p(), 1, "log1p");
    check_parity(gx.expm1(), x.expm1(), 1, "expm1");
    check_parity(gpos.sqrt(), pos.sqrt(), 1, "sqrt");
    check_parity(gpos.rsqrt(), pos.rsqrt(), 1, "rsqrt");
    check_parity(gx.sin(), x.sin(), 1, "sin");
    check_parity(gx.cos(), x.cos(), 1, "cos");
    check_parity(gx.tanh(), x.tanh(), 1, "tanh");
    check_parity(gx.sigmoid(), x.sigmoid(), 1, "sigmoid");
    check_parity(gx.silu(), x.silu(), 1, "silu");
    check_parity(gx.gelu(), x.gelu(), 1, "gelu");
    check_parity(gx.erf(), x.erf(), 1, "erf");
    check_parity(gpos.pow(gx), pos.pow(x), 1, "pow");
    check_parity(gx.reciprocal(), x.reciprocal(), 1, "reciprocal");
    check_parity(gx.relu() + gx.square() - gx.neg(), x.relu() + x.square() - x.neg(), 1,
                 "relu, square, neg");
  }
  // Extremes stay finite where the CPU's do.
  const Tensor ext = Tensor::tensor({-100.0, -20.0, 0.0, 20.0, 100.0});
  check_parity(ext.to(gpu()).sigmoid(), ext.sigmoid(), 1, "sigmoid at extremes");
}

TEST_CASE("cuda elementwise: offsets past 2^31 take the 64-bit strided loop") {
  // A [2, 8] view whose rows are 2^31 + 16 elements apart, in an 8 GiB buffer: its
  // offsets do not fit 32 bits, so every kernel on it must use 64-bit indexing.
  const std::int64_t stride = (std::int64_t(1) << 31) + 16;
  {
    Tensor big = Tensor::zeros({stride + 8}, {.dtype = kFloat32, .device = gpu()});
    Tensor view = detail::make_view(big, {2, 8}, {stride, 1}, 0);
    view.fill_(1.0);
    CHECK(view.sum().item() == 16.0);
    CHECK((view * 3.0).sum().item() == 48.0);
    CHECK(big.sum().item() == 16.0);  // nothing else was written
    CHECK(big.narrow(0, stride - 4, 8).to_vector<float>() ==
          std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1});
  }
  cuda::empty_cache();
}

// ---- reductions and softmax -----------------------------------------------------------

TEST_CASE("cuda reductions: short rows, long rows, split rows, NaN, argmax ties") {
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = randn32({300, 5000}, 6).to(dt), gx = x.to(gpu());
    // Sums accumulate in double on both devices: kSumInDouble (parity.h).
    check_parity(gx.sum({1}), x.sum({1}), test::kSumInDouble, "sum of long rows (a block each)");
    check_parity(gx.sum({0}), x.sum({0}), test::kSumInDouble, "sum over dim 0 (permuted to rows)");
    check_parity(gx.mean(), x.mean(), test::kSumInDouble, "full mean (split rows)");
    check_parity(gx.var({1}), x.var({1}), test::kSumInDouble, "var");
    check_parity(gx.max({1}), x.max({1}), 0, "max");
    check_parity(gx.min({0}), x.min({0}), 0, "min");
    check_parity(gx.argmax(1), x.argmax(1), 0, "argmax");
    check_parity(gx.argmin(), x.argmin(), 0, "argmin of everything");
    const Tensor s = randn32({4000, 7}, 7).to(dt);
    check_parity(s.to(gpu()).sum({1}), s.sum({1}), test::kSumInDouble, "sum of short rows (a warp each)");
    check_parity(s.to(gpu()).logsumexp({1}), s.logsumexp({1}), test::kSumInDouble, "logsumexp");
  }
  // A 2^24 + 3 element float32 sum: the CPU and GPU both sum in double.
  const Tensor ones = Tensor::ones({(std::int64_t(1) << 24) + 3}, {.device = gpu()});
  CHECK(ones.sum().item() == static_cast<double>((std::int64_t(1) << 24) + 3));
  // NaN wins max/min and argmax picks the first NaN; ties give the first index.
  const Tensor n = Tensor::tensor({{1.0, NAN, 3.0, NAN}, {2.0, 5.0, 5.0, 1.0}});
  const Tensor gn = n.to(gpu());
  check_parity(gn.max({1}), n.max({1}), 0, "max with NaN");
  check_parity(gn.argmax(1), n.argmax(1), 0, "argmax with NaN and ties");
  check_parity(gn.argmin(1), n.argmin(1), 0, "argmin");
  // int64 sums are exact.
  const Tensor i = Tensor::randint(-1000, 1000, {50, 999}, {.dtype = kInt64});
  check_parity(i.to(gpu()).sum({1}), i.sum({1}), 0, "int64 sum");
  check_parity(i.to(gpu()).max(), i.max(), 0, "int64 max");
}

TEST_CASE("cuda softmax: rows short and long, along an inner dim, and the backward") {
  for (const Shape& s : {Shape{64, 10}, Shape{8, 6000}, Shape{4, 33, 50}}) {
    for (std::int64_t dim : {std::int64_t(-1), std::int64_t(1)}) {
      if (dim == 1 && s.size() == 2) continue;
      for (bool log : {false, true}) {
        const std::string what = fmt::format("{} dim {} {}", shape_str(s), dim,
                                             log ? "log_softmax" : "softmax");
        Tensor x = (randn32(s, 8) * 3.0).requires_grad_();
        Tensor gx = x.detach().to(gpu()).requires_grad_();
        const Tensor y = log ? x.log_softmax(dim) : x.softmax(dim);
        const Tensor gy = log ? gx.log_softmax(dim) : gx.softmax(dim);
        const std::int64_t n = test::kSumInDouble;  // Σ exp in double on both devices
        check_parity(gy, y, n, what);
        const Tensor up = randn32(s, 9);
        y.backward(up);
        gy.backward(up.to(gpu()));
        check_parity(gx.grad(), x.grad(), n, what + " backward");
      }
    }
  }
}

// ---- matrix products ------------------------------------------------------------------

TEST_CASE("cuda gemm: shapes, transposed views, batches, broadcasting, empty k") {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  for (const Case& c : {Case{{70, 129}, {129, 33}, false, false}, Case{{129, 70}, {129, 33}, true, false},
                        Case{{70, 129}, {33, 129}, false, true}, Case{{129, 70}, {33, 129}, true, true},
                        Case{{5, 1, 64}, {64, 7}, false, false}, Case{{3, 40, 17}, {3, 17, 9}, false, false},
                        Case{{2, 1, 8, 16}, {3, 16, 4}, false, false}}) {
    for (DType dt : {kFloat32, kFloat64}) {
      Tensor a = randn32(c.a, 10).to(dt), b = randn32(c.b, 11).to(dt);
      if (c.ta) a = a.transpose(-1, -2);
      if (c.tb) b = b.transpose(-1, -2);
      const std::int64_t k = a.size(-1);
      check_parity(a.to(gpu()).matmul(b.to(gpu())), a.matmul(b), k,
                   fmt::format("matmul {} @ {}", shape_str(a.shape()), shape_str(b.shape())));
    }
  }
  // k = 0: zeros, on both.
  const Tensor e = Tensor::ones({3, 0}, {.device = gpu()}).matmul(Tensor::ones({0, 4}, {.device = gpu()}));
  CHECK(e.to_vector<float>() == std::vector<float>(12, 0.0f));
}

TEST_CASE("cuda gemm: TF32 is opt-in, and stays close when on") {
  const Tensor a = randn32({256, 512}, 12), b = randn32({512, 128}, 13);
  const Tensor ga = a.to(gpu()), gb = b.to(gpu());
  const Tensor want = a.matmul(b);
  REQUIRE_FALSE(cuda::allow_tf32());
  check_parity(ga.matmul(gb), want, 512, "full float32");
  cuda::set_allow_tf32(true);
  const Tensor fast = ga.matmul(gb).to(Device::cpu());
  cuda::set_allow_tf32(false);
  // TF32 keeps 10 mantissa bits: errors of ~1e-3 relative to the row scale.
  const double scale = std::sqrt(512.0);
  const double err = (fast - want).abs().max().item();
  CHECK(err < 5e-3 * scale * 4);
  MESSAGE("TF32 matmul max |diff| ", err);
}

// ---- convolution ----------------------------------------------------------------------

TEST_CASE("cuda conv2d: configs, chunked batches, every gradient") {
  struct Case {
    std::int64_t N, C_in, H, W, C_out, KH, KW;
    std::array<std::int64_t, 2> stride, padding, dilation;
    std::int64_t groups;
    bool bias;
  };
  const std::vector<Case> cases = {
      {4, 32, 16, 16, 32, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {4, 32, 16, 16, 64, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1, true},
      {3, 8, 11, 9, 6, 3, 2, {2, 1}, {1, 0}, {2, 1}, 2, false},
      {5, 16, 8, 8, 24, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1, true},  // pointwise: no im2col
      {2, 6, 7, 7, 6, 3, 3, {1, 1}, {1, 1}, {1, 1}, 6, true},    // depthwise
  };
  for (std::size_t limit : {std::size_t(256) << 20, std::size_t(1)}) {  // 1 byte: one image a chunk
    cuda::set_conv_workspace_limit(limit);
    for (const Case& c : cases) {
      const std::string what =
          fmt::format("conv {}x{}x{}x{} -> {} k{}x{} s{} g{} (limit {})", c.N, c.C_in, c.H, c.W,
                      c.C_out, c.KH, c.KW, c.stride[0], c.groups, limit);
      Tensor x = randn32({c.N, c.C_in, c.H, c.W}, 14).requires_grad_();
      Tensor w = (randn32({c.C_out, c.C_in / c.groups, c.KH, c.KW}, 15) * 0.2).requires_grad_();
      Tensor b = c.bias ? randn32({c.C_out}, 16).requires_grad_() : Tensor();
      Tensor gx = x.detach().to(gpu()).requires_grad_();
      Tensor gw = w.detach().to(gpu()).requires_grad_();
      Tensor gb = c.bias ? b.detach().to(gpu()).requires_grad_() : Tensor();
      const Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
      const Tensor gy = conv2d(gx, gw, gb, c.stride, c.padding, c.dilation, c.groups);
      const std::int64_t k_fwd = c.C_in / c.groups * c.KH * c.KW;
      check_parity(gy, y, k_fwd, what);
      const Tensor up = randn32(y.shape(), 17);
      y.backward(up);
      gy.backward(up.to(gpu()));
      check_parity(gx.grad(), x.grad(), c.C_out * c.KH * c.KW, what + " grad input");
      check_parity(gw.grad(), w.grad(), c.N * y.size(2) * y.size(3), what + " grad weight");
      if (c.bias) check_parity(gb.grad(), b.grad(), c.N * y.size(2) * y.size(3), what + " grad bias");
    }
  }
  cuda::set_conv_workspace_limit(std::size_t(256) << 20);
}

// ---- pooling, resampling, norms, indexing ---------------------------------------------

TEST_CASE("cuda pooling and resampling: forward and backward against the CPU") {
  Tensor x = randn32({4, 8, 17, 12}, 18).requires_grad_();
  Tensor gx = x.detach().to(gpu()).requires_grad_();
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> ops = {
      {"avg_pool2d 2", [](const Tensor& t) { return avg_pool2d(t, {2, 2}); }},
      {"avg_pool2d 3/2 pad 1", [](const Tensor& t) { return avg_pool2d(t, {3, 3}, {2, 2}, {1, 1}); }},
      {"max_pool2d 2", [](const Tensor& t) { return max_pool2d(t, {2, 2}); }},
      {"max_pool2d 3/1 pad 1", [](const Tensor& t) { return max_pool2d(t, {3, 3}, {1, 1}, {1, 1}); }},
      {"nearest x2", [](const Tensor& t) { return interpolate(t, 2.0, InterpolateMode::Nearest); }},
      {"nearest x0.5", [](const Tensor& t) { return interpolate(t, 0.5, InterpolateMode::Nearest); }},
      {"nearest to 23x5", [](const Tensor& t) { return interpolate(t, {23, 5}, InterpolateMode::Nearest); }},
      {"bilinear x2", [](const Tensor& t) { return interpolate(t, 2.0, InterpolateMode::Bilinear); }},
      {"bilinear x1.7", [](const Tensor& t) { return interpolate(t, 1.7, InterpolateMode::Bilinear); }},
      {"bilinear to 5x31", [](const Tensor& t) { return interpolate(t, {5, 31}, InterpolateMode::Bilinear); }},
  };
  for (const auto& [name, f] : ops) {
    x.set_grad({});
    gx.set_grad({});
    const Tensor y = f(x), gy = f(gx);
    check_parity(gy, y, 9, name);
    const Tensor up = randn32(y.shape(), 19);
    y.backward(up);
    gy.backward(up.to(gpu()));
    check_parity(gx.grad(), x.grad(), 64, name + " backward");
  }
}

TEST_CASE("cuda norms: group, layer and batch norm with their gradients") {
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x0 = (randn32({6, 32, 9, 9}, 20) * 2.0 + 1.0).to(dt);
    const Tensor w0 = randn32({32}, 21).to(dt), b0 = randn32({32}, 22).to(dt);
    using Fn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;
    // The statistics and the weight / bias gradients are sums in double on both devices.
    const std::int64_t k = test::kSumInDouble;
    const std::vector<std::pair<std::string, Fn>> ops = {
        {"group_norm 8", [](const Tensor& x, const Tensor& w, const Tensor& b) { return group_norm(x, 8, w, b); }},
        {"group_norm 32 no affine", [](const Tensor& x, const Tensor&, const Tensor&) { return group_norm(x, 32); }},
        {"layer_norm", [](const Tensor& x, const Tensor&, const Tensor&) { return layer_norm(x, {9, 9}); }},
        {"batch_norm train", [](const Tensor& x, const Tensor& w, const Tensor& b) {
           return batch_norm(x, {}, {}, w, b, true); }},
    };
    for (const auto& [name, f] : ops) {
      Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
             b = b0.clone().requires_grad_();
      Tensor gx = x0.to(gpu()).requires_grad_(), gw = w0.to(gpu()).requires_grad_(),
             gb = b0.to(gpu()).requires_grad_();
      const Tensor y = f(x, w, b), gy = f(gx, gw, gb);
      check_parity(gy, y, k, name);
      const Tensor up = randn32(y.shape(), 23).to(dt);
      y.backward(up);
      gy.backward(up.to(gpu()));
      check_parity(gx.grad(), x.grad(), k, name + " dx");
      check_parity(gw.grad(), w.grad(), k, name + " dweight");
      check_parity(gb.grad(), b.grad(), k, name + " dbias");
    }
    // Running statistics are updated on the GPU as on the CPU, and inference uses them.
    Tensor rm = Tensor::zeros({32}, {.dtype = dt}), rv = Tensor::ones({32}, {.dtype = dt});
    Tensor grm = rm.to(gpu()), grv = rv.to(gpu());
    batch_norm(x0, rm, rv, w0, b0, true, 0.1);
    batch_norm(x0.to(gpu()), grm, grv, w0.to(gpu()), b0.to(gpu()), true, 0.1);
    check_parity(grm, rm, k, "running_mean");
    check_parity(grv, rv, k, "running_var");
    check_parity(batch_norm(x0.to(gpu()), grm, grv, w0.to(gpu()), b0.to(gpu()), false),
                 batch_norm(x0, rm, rv, w0, b0, false), k, "batch_norm eval");
  }
}

TEST_CASE("cuda indexing: gather, scatter_add, index_select, index_add, embedding match exactly") {
  const Tensor x = randn32({6, 50, 7}, 24);
  const Tensor idx = Tensor::randint(0, 50, {6, 80, 7}, {.dtype = kInt64});
  const Tensor src = randn32({6, 80, 7}, 25);
  const Tensor gxx = x.to(gpu()), gidx = idx.to(gpu()), gsrc = src.to(gpu());
  check_parity(gxx.gather(1, gidx), x.gather(1, idx), 0, "gather");
  check_parity(scatter_add(gxx, 1, gidx, gsrc), scatter_add(x, 1, idx, src), 0,
               "scatter_add with repeats (same order as the CPU)");
  const Tensor rows = Tensor::randint(0, 50, {120}, {.dtype = kInt64});
  check_parity(gxx.index_select(1, rows.to(gpu())), x.index_select(1, rows), 0, "index_select");
  const Tensor add = randn32({6, 120, 7}, 26);
  check_parity(index_add(gxx, 1, rows.to(gpu()), add.to(gpu())), index_add(x, 1, rows, add), 0,
               "index_add with repeats");
  const Tensor table = randn32({50, 16}, 27);
  Tensor t = table.clone().requires_grad_(), gt = table.to(gpu()).requires_grad_();
  const Tensor e = embedding(t, rows.reshape({10, 12})), ge = embedding(gt, rows.reshape({10, 12}).to(gpu()));
  check_parity(ge, e, 0, "embedding");
  const Tensor up = randn32(e.shape(), 28);
  e.backward(up);
  ge.backward(up.to(gpu()));
  check_parity(gt.grad(), t.grad(), 0, "embedding backward (index_add)");
  // Out-of-range GPU indices are caught before any kernel runs.
  CHECK_THROWS_WITH_AS(gxx.gather(1, (gidx + 50.0).to(kInt64)), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(embedding(gt, Tensor::full({2}, 50.0, {.dtype = kInt64, .device = gpu()})),
                       doctest::Contains("embedding: index 50 out of range"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(randn32({2, 3}, 1).to(gpu()),
                                     Tensor::full({2}, 3.0, {.dtype = kInt64, .device = gpu()})),
                       doctest::Contains("out of range"), Error);
}

// ---- random numbers -------------------------------------------------------------------

TEST_CASE("cuda philox: uniforms and integers bit-identical to the CPU, normals to rounding") {
  for (std::int64_t n : {std::int64_t(1), std::int64_t(7), std::int64_t(100003)}) {
    for (DType dt : {kFloat32, kFloat64}) {
      Generator a(42), b(42);
      a.set_offset(5);
      b.set_offset(5);
      const Tensor uc = Tensor::rand({n}, {.dtype = dt}, &a);
      const Tensor ug = Tensor::rand({n}, {.dtype = dt, .device = gpu()}, &b);
      check_parity(ug, uc, 0, "rand");
      CHECK(a.offset() == b.offset());
      const Tensor nc = Tensor::randn({n}, {.dtype = dt}, &a);
      const Tensor ng = Tensor::randn({n}, {.dtype = dt, .device = gpu()}, &b);
      check_parity(ng, nc, 1, "randn (few-ulp logf/sinf/cosf differences)");
    }
    Generator a(9), b(9);
    check_parity(Tensor::randint(-3, 1000000007, {n}, {.dtype = kInt64, .device = gpu()}, &b),
                 Tensor::randint(-3, 1000000007, {n}, {.dtype = kInt64}, &a), 0, "randint");
  }
  // dropout draws its mask from the same stream on either device.
  Generator a(3), b(3);
  const Tensor x = Tensor::ones({1000});
  check_parity(dropout(x.to(gpu()), 0.25, true, &b), dropout(x, 0.25, true, &a), 0, "dropout mask");
}

// ---- optimizers -----------------------------------------------------------------------

TEST_CASE("cuda optimizers: Adam, AdamW and SGD steps match the CPU's; clip_grad_norm_") {
  using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  const std::vector<std::pair<std::string, Make>> opts = {
      {"Adam wd", [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 1e-2, .weight_decay = 0.1}); }},
      {"AdamW", [](std::vector<Tensor> p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.1}); }},
      {"SGD nesterov", [](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01}); }},
      {"SGD plain", [](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, 0.1); }},
  };
  for (const auto& [name, make] : opts) {
    Tensor pc = randn32({1000, 3}, 30).requires_grad_();
    Tensor pg = pc.detach().to(gpu()).requires_grad_();
    auto oc = make({pc});
    auto og = make({pg});
    for (int step = 0; step < 5; ++step) {
      const Tensor g = randn32({1000, 3}, 31 + step);
      pc.set_grad(g);
      pg.set_grad(g.to(gpu()));
      if (step == 2) {
        const double nc = optim::clip_grad_norm_({pc}, 10.0);
        const double ng = optim::clip_grad_norm_({pg}, 10.0);
        CHECK(std::abs(nc - ng) <= 1e-12 * nc);  // both sum squares in float64
        check_parity(pg.grad(), pc.grad(), 1, name + " clipped gradient");
      }
      oc->step();
      og->step();
    }
    check_parity(pg, pc, 1, name + " parameters after 5 steps");
  }
}

// ---- memory ---------------------------------------------------------------------------

TEST_CASE("cuda memory: the caching allocator reuses blocks and reports its statistics") {
  cuda::synchronize();
  cuda::empty_cache();
  const cuda::MemoryStats before = cuda::memory_stats();
  cuda::reset_peak_memory_stats();
  {
    Tensor a = Tensor::empty({1 << 20}, {.device = gpu()});  // 4 MiB
    const cuda::MemoryStats s = cuda::memory_stats();
    CHECK(s.allocated >= before.allocated + (std::size_t(4) << 20));
    CHECK(s.peak_allocated >= s.allocated);
    CHECK(s.reserved >= s.allocated);
  }
  const cuda::MemoryStats freed = cuda::memory_stats();
  CHECK(freed.allocated == before.allocated);
  CHECK(freed.cached >= (std::size_t(4) << 20));  // kept for reuse
  const std::uint64_t raw = freed.raw_allocations;
  { Tensor b = Tensor::empty({1 << 20}, {.device = gpu()}); }
  CHECK(cuda::memory_stats().raw_allocations == raw);  // served from the cache
  CHECK(cuda::memory_stats().cache_hits > freed.cache_hits);
  cuda::empty_cache();
  CHECK(cuda::memory_stats().cached == 0);
  CHECK(cuda::memory_stats().reserved == cuda::memory_stats().allocated);
}

}  // TEST_SUITE("gpu")
