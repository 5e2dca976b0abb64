// Chapter 4: CUDA. The same ops on the GPU, checked against the CPU. On a machine
// without a GPU (or a build without CUDA) it says so and compares nothing; where a GPU is
// present it moves tensors there and back and runs each op on both devices, reporting
// the largest difference -- or the clear error of an op that has no CUDA kernel yet.
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 4: the same ops on the GPU");
  return tutorial::run([&] {
    std::string table = "| check | CPU vs GPU |\n|---|---|\n";
    if (!cuda::is_available()) {
      const char* why = cuda::built_with_cuda() ? "built with CUDA, but no GPU or driver here"
                                                : "built without CUDA (-DKILN_CUDA=OFF or no toolkit)";
      fmt::print("no CUDA device: {}\n", why);
      table += fmt::format("| devices | none: {} |\n", why);
      args.write("ch04-parity.md", table);
      return;
    }
    fmt::print("{} CUDA device(s); cuda:0 is {}\n", cuda::device_count(), cuda::device_name(0));
    table += fmt::format("| devices | {} x {} |\n", cuda::device_count(), cuda::device_name(0));
    Generator gen(4);
    const std::int64_t n = args.quick ? 64 : 512;
    const Tensor a = Tensor::randn({n, n}, {}, &gen), b = Tensor::randn({n, n}, {}, &gen);
    const Device gpu = Device::cuda(0);
    // Moving is explicit and exact: there and back gives the same bits.
    const Tensor back = a.to(gpu).to(Device::cpu());
    table += fmt::format("| copy to cuda:0 and back | max difference {} |\n", amax(abs(back - a)).item());
    struct Op {
      const char* name;
      std::function<Tensor(const Tensor&, const Tensor&)> f;
    };
    const Op ops[] = {{"a + b", [](const Tensor& x, const Tensor& y) { return x + y; }},
                      {"silu(a)", [](const Tensor& x, const Tensor&) { return silu(x); }},
                      {"a.matmul(b)", [](const Tensor& x, const Tensor& y) { return x.matmul(y); }},
                      {"softmax(a, 1)", [](const Tensor& x, const Tensor&) { return x.softmax(1); }}};
    for (const Op& op : ops) {
      try {
        const Tensor cpu_out = op.f(a, b);
        const Tensor gpu_out = op.f(a.to(gpu), b.to(gpu)).to(Device::cpu());
        const double err = amax(abs(gpu_out - cpu_out)).item();
        table += fmt::format("| `{}` | max difference {:.3g} |\n", op.name, err);
      } catch (const Error& e) {
        table += fmt::format("| `{}` | not on the GPU yet: {} |\n", op.name, e.what());
      }
    }
    args.write("ch04-parity.md", table);
  });
}
