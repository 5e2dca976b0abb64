// Chapter 1: tensors and strides. A tensor is a window onto a flat buffer: shape,
// strides and an offset say where element (i, j, ...) lives. This program makes views
// of one small tensor, prints where each looks, and shows that they share storage.
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 1: tensors and strides");
  return tutorial::run([&] {
    // [region views]
    Tensor x = Tensor::arange(0, 12).reshape({3, 4});  // storage 0, 1, ..., 11
    struct View {
      const char* code;
      Tensor t;
    };
    const View views[] = {
        {"x", x},
        {"x.t()", x.t()},                          // swaps the two strides
        {"x.slice(1, 1, 4, 2)", x.slice(1, 1, 4, 2)},  // offset 1, column stride 2
        {"x.select(0, 2)", x.select(0, 2)},        // offset 8, one dim fewer
        {"x.unsqueeze(0).expand({2, 3, 4})", x.unsqueeze(0).expand({2, 3, 4})},  // stride 0
    };
    // [endregion]
    std::string table = "| view | shape | strides | offset | contiguous |\n|---|---|---|---|---|\n";
    for (const View& v : views) {
      table += fmt::format("| `{}` | {} | {} | {} | {} |\n", v.code, shape_str(v.t.shape()),
                           shape_str(v.t.strides()), v.t.offset(), v.t.is_contiguous() ? "yes" : "no");
      fmt::print("{:<36} shape {:<10} strides {:<10} offset {}\n", v.code, shape_str(v.t.shape()),
                 shape_str(v.t.strides()), v.t.offset());
    }
    // Writing through a view changes the base: they share one Storage.
    Tensor column = x.slice(1, 1, 2);  // column 1, a [3, 1] view
    column.fill_(-1.0);
    fmt::print("after column.fill_(-1):\n{}\n", x);
    KILN_CHECK(x.at({2, 1}) == -1.0, "a view must share its base's storage");
    // A transpose is not contiguous; contiguous() copies it into row-major order.
    const Tensor xt = x.t().contiguous();
    fmt::print("x.t().contiguous() strides {}\n", shape_str(xt.strides()));
    table += fmt::format("| `x.t().contiguous()` (a copy) | {} | {} | {} | yes |\n",
                         shape_str(xt.shape()), shape_str(xt.strides()), xt.offset());
    args.write("ch01-views.md", table);
  });
}
