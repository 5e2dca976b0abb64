// Printing tensors the way PyTorch does (torch/_tensor_str.py), so that output can be
// compared with a PyTorch session by eye:
//
//   tensor([[ 1.0000, -2.5000],
//           [ 3.0000,  4.0000]], dtype=float64, requires_grad=True)
//
// The rules, all taken from PyTorch's defaults:
//   * every element of a tensor is right-aligned to one common width;
//   * floats get 4 decimals, or scientific notation when the nonzero finite values span
//     more than 3 orders of magnitude, exceed 1e8, or go below 1e-4; floats that are
//     all whole numbers print as "1." so they still look like floats;
//   * a tensor of more than 1000 elements is summarised: along every dimension longer
//     than 6 only the first and last 3 entries are shown, with "..." between them;
//   * rows wrap at 80 columns;
//   * suffixes name what the values alone do not show: a non-CPU device, a dtype other
//     than float32 and int64 (the dtypes torch infers from literals), the shape of an
//     empty tensor, and the autograd state.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "autograd/node.h"
#include "tensor/tensor.h"

namespace kiln {
namespace {

constexpr int kPrecision = 4;           // digits after the point
constexpr std::int64_t kThreshold = 1000;  // more elements than this: summarise
constexpr std::int64_t kEdgeItems = 3;  // entries kept at each end when summarising
constexpr int kLineWidth = 80;

// The indices printed along a dimension of size n: all of them, or the first and last
// kEdgeItems when summarising (the caller puts "..." between the two halves).
std::vector<std::int64_t> shown_indices(std::int64_t n, bool summarize) {
  std::vector<std::int64_t> idx;
  if (summarize && n > 2 * kEdgeItems) {
    for (std::int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    for (std::int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  } else {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

// Chooses how to write every value of one tensor. It looks only at the values that will
// be shown, so a summarised tensor's hidden middle cannot change the layout.
// T is double (for float32/float64) or int64 (printed exactly, never through double).
template <class T>
class Formatter {
 public:
  explicit Formatter(const std::vector<T>& shown) {
    if constexpr (std::is_integral_v<T>) {
      for (T v : shown) width_ = std::max(width_, static_cast<int>(fmt::formatted_size("{}", v)));
    } else {
      // nan, inf and 0 print the same in every mode, so only the others decide it.
      std::vector<double> vals;
      for (double v : shown)
        if (std::isfinite(v) && v != 0) vals.push_back(v);
      if (vals.empty()) return;  // keep int mode: tensor([0., 0.]), tensor([nan])

      double lo = std::abs(vals[0]), hi = lo;
      for (double v : vals) {
        lo = std::min(lo, std::abs(v));
        hi = std::max(hi, std::abs(v));
        if (v != std::ceil(v)) int_mode_ = false;
      }
      // Fixed point would hide small values as 0.0000 or run very wide; a range that
      // wide reads better with exponents. Whole numbers never need the 1e-4 test.
      sci_mode_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
      for (double v : vals) width_ = std::max(width_, static_cast<int>(bare(v).size()));
    }
  }

  int width() const { return width_; }

  // The value padded on the left to the common width (right-aligned columns).
  std::string format(T v) const {
    std::string s = bare(v);
    if (static_cast<int>(s.size()) < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }

 private:
  std::string bare(T v) const {
    if constexpr (std::is_integral_v<T>) {
      return fmt::format("{}", v);
    } else {
      if (std::isnan(v)) return "nan";  // fmt would print a sign-bit nan as "-nan"
      if (sci_mode_) return fmt::format("{:.{}e}", v, kPrecision);
      if (int_mode_) {
        // The trailing point marks a float that happens to be whole: "2." not "2".
        std::string s = fmt::format("{:.0f}", v);
        return std::isinf(v) ? s : s + ".";
      }
      return fmt::format("{:.{}f}", v, kPrecision);
    }
  }

  int width_ = 1;
  bool int_mode_ = true;
  bool sci_mode_ = false;
};

// Writes the bracketed body of one tensor. `values` holds all elements in row-major
// order (to_vector already resolved strides and the device), so element (i0, ..., in)
// sits at sum(ik * row_major_stride_k).
template <class T>
class Printer {
 public:
  Printer(std::vector<T> values, Shape shape)
      : values_(std::move(values)),
        shape_(std::move(shape)),
        strides_(contiguous_strides(shape_)),
        summarize_(numel_of(shape_) > kThreshold),
        formatter_(shown_values()) {}

  // indent: the (0-based) column of the opening bracket; wrapped lines start one past it.
  std::string str(int indent) const {
    if (shape_.empty()) return formatter_.format(values_[0]);  // 0-d: no brackets
    return block(0, 0, indent);
  }

 private:
  std::vector<T> shown_values() const {
    std::vector<T> out;
    if (shape_.empty()) {
      out.push_back(values_[0]);
    } else {
      collect(0, 0, out);
    }
    return out;
  }

  void collect(std::size_t dim, std::int64_t base, std::vector<T>& out) const {
    for (std::int64_t i : shown_indices(shape_[dim], summarize_)) {
      std::int64_t at = base + i * strides_[dim];
      if (dim + 1 == shape_.size()) {
        out.push_back(values_[static_cast<std::size_t>(at)]);
      } else {
        collect(dim + 1, at, out);
      }
    }
  }

  // True when the entries of a dimension of size n are cut in the middle.
  bool cut(std::int64_t n) const { return summarize_ && n > 2 * kEdgeItems; }

  // The sub-tensor along dims [dim, ndim) starting at flat position base.
  std::string block(std::size_t dim, std::int64_t base, int indent) const {
    if (dim + 1 == shape_.size()) return row(base, indent);

    std::vector<std::string> parts;
    std::vector<std::int64_t> idx = shown_indices(shape_[dim], summarize_);
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (cut(shape_[dim]) && k == static_cast<std::size_t>(kEdgeItems)) parts.push_back("...");
      parts.push_back(block(dim + 1, base + idx[k] * strides_[dim], indent + 1));
    }
    // Sub-blocks are separated by one blank line per remaining dimension beyond the
    // last, and aligned under this block's opening bracket.
    std::string sep = "," + std::string(shape_.size() - dim - 1, '\n') +
                      std::string(static_cast<std::size_t>(indent) + 1, ' ');
    return "[" + join(parts, sep) + "]";
  }

  // The innermost dimension: values separated by ", ", wrapped at kLineWidth.
  std::string row(std::int64_t base, int indent) const {
    std::vector<std::string> items;
    std::vector<std::int64_t> idx = shown_indices(shape_.back(), summarize_);
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (cut(shape_.back()) && k == static_cast<std::size_t>(kEdgeItems)) items.push_back(" ...");
      items.push_back(formatter_.format(values_[static_cast<std::size_t>(base + idx[k])]));
    }
    // Each item takes its width plus ", ".
    std::size_t per_line = static_cast<std::size_t>(
        std::max(1, (kLineWidth - indent) / (formatter_.width() + 2)));
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < items.size(); i += per_line) {
      std::size_t end = std::min(items.size(), i + per_line);
      std::vector<std::string> line(items.begin() + static_cast<std::ptrdiff_t>(i),
                                    items.begin() + static_cast<std::ptrdiff_t>(end));
      lines.push_back(join(line, ", "));
    }
    return "[" + join(lines, ",\n" + std::string(static_cast<std::size_t>(indent) + 1, ' ')) +
           "]";
  }

  static std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) out += sep;
      out += parts[i];
    }
    return out;
  }

  // Declared in initialisation order: formatter_ is built from the members above it.
  std::vector<T> values_;
  Shape shape_;
  Shape strides_;
  bool summarize_;
  Formatter<T> formatter_;
};

// "(0, 3)": Python's tuple syntax, as in torch's size=(0, 3).
std::string tuple_str(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";

  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back(fmt::format("device='{}'", device()));

  std::string body;
  if (numel() == 0) {
    // No values to look at, so the shape and any non-default dtype must be spelled out
    // (a 1-D empty tensor's shape (0,) is what [] already says).
    body = "[]";
    if (dim() != 1) suffixes.push_back("size=" + tuple_str(shape()));
    if (dtype() != kFloat32) suffixes.push_back(fmt::format("dtype={}", dtype()));
  } else {
    // float32 and int64 are what torch infers from literals, so they go unnamed.
    if (dtype() == kFloat64) suffixes.push_back(fmt::format("dtype={}", dtype()));
    body = is_floating(dtype())
               ? Printer<double>(to_vector<double>(), shape()).str(indent)
               : Printer<std::int64_t>(to_vector<std::int64_t>(), shape()).str(indent);
  }

  if (auto fn = grad_fn()) {
    suffixes.push_back(fmt::format("grad_fn=<{}>", fn->name()));
  } else if (requires_grad()) {
    suffixes.push_back("requires_grad=True");
  }

  // Suffixes follow on the last line while it stays within kLineWidth, else they start
  // a new line under the opening bracket. (The length arithmetic copies torch's
  // _add_suffixes, including its +1, so the break points match.)
  std::string out = prefix + body;
  std::size_t nl = out.rfind('\n');
  int last_line = static_cast<int>(out.size()) -
                  (nl == std::string::npos ? -1 : static_cast<int>(nl)) + 1;
  for (const std::string& s : suffixes) {
    int len = static_cast<int>(s.size());
    if (last_line + len + 2 > kLineWidth) {
      out += ",\n" + std::string(static_cast<std::size_t>(indent), ' ') + s;
      last_line = indent + len;
    } else {
      out += ", " + s;
      last_line += len + 2;
    }
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace kiln
