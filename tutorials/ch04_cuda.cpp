// Chapter 4: CUDA. The same ops on the GPU, checked against the CPU with the bounds the
// test suite uses (Note [CPU-GPU tolerances] in tests/cuda/parity.h).
//
// Each check draws its inputs on the CPU and copies them to the GPU (a copy is exact),
// runs the op on both devices and reports the largest difference beside its bound. Where
// there is no GPU (no driver, or a build without CUDA) the tutorial says so, runs the
// CPU side alone and writes the same table with "not run" in place of the differences:
// the list of what a GPU would be asked, and how closely. Nothing is reported as agreeing
// that was not compared.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kiln.h"
#include "tests/cuda/tolerance.h"
#include "tutorials/tutorial.h"

using namespace kiln;

namespace {

using V = const std::vector<Tensor>&;

// [region check]
struct Check {
  std::string name;          // what is compared
  std::string code;          // the CUDA code that runs it
  std::vector<Shape> shapes;  // the inputs, drawn on the CPU
  // Note [CPU-GPU tolerances]: 0 = must be identical, 1 = one element-wise rounding,
  // k > 1 = the length of the sums behind each value.
  std::int64_t k;
  // The op on inputs that live on `device` (a draw ignores them and uses the device).
  std::function<Tensor(V, Device)> f;
};
// [endregion]

// The checks, one per kind of CUDA code of the chapter; `s` scales the sizes.
std::vector<Check> checks(std::int64_t s) {
  const std::int64_t n = 4096 * s, rows = 32 * s, cols = 96, kdim = 64 * s;
  const std::int64_t img = 8 + 4 * s, cin = 8, cout = 16, batch = 2 * s;
  const auto draw = [](auto make) {
    return [make](V, Device d) {
      Generator gen(2024);  // the same seed and offset on both devices
      return make(d, gen);
    };
  };
  return {
      {"copy to the GPU and back", "memory.cu: pinned staging", {{n * 256}}, 0,
       [](V x, Device) { return x[0]; }},
      {"`silu(x)`, contiguous", "elementwise.cu: linear loop", {{n}}, 1,
       [](V x, Device) { return x[0].silu(); }},
      {"`x * 3 - 1`, scalar operands", "elementwise.cu: linear loop, stride 0", {{n}}, 1,
       [](V x, Device) { return x[0] * 3.0 - 1.0; }},
      {"`x + b`, b broadcast over rows", "elementwise.cu: strided loop", {{rows, cols}, {cols}}, 1,
       [](V x, Device) { return x[0] + x[1]; }},
      {"`exp` of a transposed view", "elementwise.cu: strided loop", {{rows, cols}}, 1,
       [](V x, Device) { return x[0].t().exp(); }},
      {"sum of each row", "reduce.cu: a warp per row", {{rows, cols}}, test::kSumInDouble,
       [](V x, Device) { return x[0].sum({1}); }},
      {"sum of everything", "reduce.cu: split rows, two passes", {{n * 16}}, test::kSumInDouble,
       [](V x, Device) { return x[0].sum(); }},
      {"`softmax` along rows", "reduce.cu: softmax rows", {{rows, cols}}, test::kSumInDouble,
       [](V x, Device) { return x[0].softmax(1); }},
      {"`a.matmul(b)`", "gemm.cu: cuBLAS, operands swapped", {{rows, kdim}, {kdim, cols}}, kdim,
       [](V x, Device) { return x[0].matmul(x[1]); }},
      {"batched `matmul`, 8 matrices", "gemm.cu: strided-batched cuBLAS",
       {{8, rows, kdim}, {8, kdim, cols}}, kdim, [](V x, Device) { return x[0].matmul(x[1]); }},
      {"`conv2d` 3x3, padding 1", "conv.cu: im2col + cuBLAS",
       {{batch, cin, img, img}, {cout, cin, 3, 3}}, cin * 9,
       [](V x, Device) { return conv2d(x[0], x[1], {}, {1, 1}, {1, 1}); }},
      {"`conv2d` weight gradient", "conv.cu: im2col + one GEMM over the images",
       {{batch, cin, img, img}, {cout, cin, 3, 3}, {batch, cout, img, img}}, batch * img * img,
       [](V x, Device) {
         const Tensor w = x[1].detach().requires_grad_();
         (conv2d(x[0], w, {}, {1, 1}, {1, 1}) * x[2]).sum().backward();
         return w.grad();
       }},
      {"`rand`, same seed", "random.cu: Philox, one thread per block", {}, 0,
       draw([n](Device d, Generator& g) { return Tensor::rand({n}, {.device = d}, &g); })},
      {"`randn`, same seed", "random.cu: Philox + Box-Muller", {}, 1,
       draw([n](Device d, Generator& g) { return Tensor::randn({n}, {.device = d}, &g); })},
  };
}

// The bound of a check and how its GPU result compares with the CPU's.
struct Comparison {
  std::string bound, result;
};

Comparison compare(const Check& c, const Tensor& cpu, const Tensor* gpu) {
  const std::vector<double> want = cpu.to_vector<double>();
  const test::Tolerance tol = test::tolerance(cpu.dtype(), c.k, test::rms_of(want));
  Comparison out;
  out.bound = c.k == 0 ? "identical"
                       : fmt::format("k = {}: {:.1e} + {:.1e} \\|cpu\\|", c.k, tol.atol, tol.rtol);
  if (gpu == nullptr) {
    out.result = "not run: no GPU";
    return out;
  }
  const std::vector<double> got = gpu->to(Device::cpu()).to_vector<double>();
  double worst = 0, worst_ratio = 0;
  std::int64_t differ = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double diff = std::abs(got[i] - want[i]);
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    differ += !(diff == 0);
    worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
    worst_ratio = std::max(worst_ratio, diff / (tol.atol + tol.rtol * std::abs(want[i])));
  }
  if (c.k == 0)
    out.result = differ == 0 ? "identical" : fmt::format("**{} elements differ**", differ);
  else if (worst_ratio <= 1)
    out.result = fmt::format("max {:.1e}: {:.0f}% of the bound", worst, 100 * worst_ratio);
  else
    out.result = fmt::format("**max {:.1e}: {:.1f} x the bound**", worst, worst_ratio);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 4: the same ops on the GPU");
  return tutorial::run([&] {
    const bool gpu = cuda::is_available();
    std::string text;
    if (gpu) {
      text = fmt::format("Devices: {} CUDA GPU(s); `cuda:0` is {}.\n\n", cuda::device_count(),
                         cuda::device_name(0));
    } else {
      const std::string why = cuda::built_with_cuda()
                                  ? "kiln was built with CUDA, but the driver says: " + cuda::unavailable_reason()
                                  : "kiln was built without CUDA";
      fmt::print("NO GPU: {}.\nNothing below runs on a GPU: the table lists what would be "
                 "compared, and the bounds, from the CPU side alone.\n",
                 why);
      text = fmt::format("Devices: **no CUDA GPU** ({}). Nothing in this table ran on a GPU: it "
                         "lists what the comparison would be and its bounds, computed from the "
                         "CPU results alone.\n\n",
                         why);
    }
    text += "| check | CUDA code | bound on \\|gpu - cpu\\| | GPU against CPU |\n|---|---|---|---|\n";
    const Device cuda0 = Device::cuda(0);
    for (const Check& c : checks(args.quick ? 1 : 4)) {
      Generator gen(4);
      std::vector<Tensor> xc, xg;
      for (const Shape& s : c.shapes) xc.push_back(Tensor::randn(s, {}, &gen));
      const Tensor yc = c.f(xc, Device::cpu());
      Tensor yg;
      if (gpu) {
        for (const Tensor& x : xc) xg.push_back(x.to(cuda0));
        yg = c.f(xg, cuda0);
      }
      const Comparison r = compare(c, yc, gpu ? &yg : nullptr);
      fmt::print("{:<34} {:<44} {}\n", c.name, c.code, r.result);
      text += fmt::format("| {} | {} | {} | {} |\n", c.name, c.code, r.bound, r.result);
    }
    if (gpu) {
      const cuda::MemoryStats m = cuda::memory_stats();
      text += fmt::format(
          "\nThe caching allocator after these checks: {} requests, {} served from its cache, "
          "{} `cudaMalloc` calls; {:.1f} MiB reserved, peak {:.1f} MiB allocated.\n",
          m.requests, m.cache_hits, m.raw_allocations, m.reserved / 1048576.0,
          m.peak_allocated / 1048576.0);
    } else {
      text += "\nThe caching allocator was not exercised (no GPU); its bookkeeping is tested on "
              "the host by the `cuda_host` suite.\n";
    }
    args.write("ch04-parity.md", text);
  });
}
