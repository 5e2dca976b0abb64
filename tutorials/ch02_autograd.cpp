// Chapter 2: autograd and gradcheck. Builds a small graph, asks for its gradients two
// ways (loss.backward() and autograd::grad), then checks them against central finite
// differences -- and shows gradcheck catching a deliberately wrong backward formula.
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using autograd::gradcheck;

// A custom op with a hand-written (and, with `wrong`, broken) backward: y = x³.
Tensor cube(const Tensor& x, bool wrong) {
  Tensor y = x.detach() * x.detach() * x.detach();
  return autograd::record("CubeBackward", y, {x}, [x = x.detach(), wrong](const Tensor& g) {
    return std::vector<Tensor>{g * (wrong ? 2.0 : 3.0) * x * x};  // d x³/dx = 3x²
  });
}

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 2: autograd and gradcheck");
  return tutorial::run([&] {
    // [region graph]
    Generator gen(0);
    const Options f64{.dtype = kFloat64, .requires_grad = true};
    Tensor x = Tensor::randn({4, 3}, f64, &gen);
    Tensor w = Tensor::randn({3, 2}, f64, &gen);
    Tensor loss = x.matmul(w).tanh().square().mean();  // records MatmulBackward, ...
    loss.backward();                                    // x.grad(), w.grad() are now set
    // [endregion]
    fmt::print("loss = {:.6f}\nd loss / d w =\n{}\n", loss.item(), w.grad());

    // The same gradient without touching .grad: autograd::grad returns it.
    Tensor loss2 = x.matmul(w).tanh().square().mean();
    const Tensor gw = autograd::grad({loss2}, {w})[0];
    KILN_CHECK(amax(abs(gw - w.grad())).item() == 0.0, "grad and backward must agree");

    std::string table = "| function | gradcheck | worst element: analytic | numeric |\n|---|---|---|---|\n";
    auto report = [&](const char* name, const autograd::GradcheckResult& r) {
      fmt::print("gradcheck {}: {}\n", name, r.ok ? "ok" : r.message);
      table += fmt::format("| {} | {} | {:.6g} | {:.6g} |\n", name, r.ok ? "passes" : "**fails**",
                           r.analytic, r.numeric);
    };
    // [region gradcheck]
    const std::int64_t n = args.quick ? 3 : 6;
    Tensor a = Tensor::randn({n, n}, f64, &gen);
    report("softmax(a, 1)", gradcheck([](const std::vector<Tensor>& in) { return in[0].softmax(1); }, {a}));
    report("cube, correct backward 3x²",
           gradcheck([](const std::vector<Tensor>& in) { return cube(in[0], false); }, {a}));
    report("cube, wrong backward 2x²",
           gradcheck([](const std::vector<Tensor>& in) { return cube(in[0], true); }, {a}));
    // [endregion]
    args.write("ch02-gradcheck.md", table);
  });
}
