#pragma once
// Tensor: a cheap handle (one shared_ptr) to a TensorImpl, which holds
//   storage   the shared flat buffer (tensor/storage.h),
//   shape, strides, offset   the view onto it (Note [Strides] in tensor/shape.h),
//   dtype     float32 / float64 / int64, and the device (the storage's),
//   autograd  requires_grad, .grad, grad_fn (autograd/node.h).
// Copying a Tensor copies the handle, not the data: `Tensor b = a;` aliases a.
//
// The math methods (x.exp(), x.matmul(w), x.sum({1})) are thin forwards to the free
// functions of autograd/ops/, which check arguments, call the device's kernel and
// record the backward. They are declared here so that code reads like PyTorch.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace kiln {

class Tensor;
class Generator;
namespace autograd {
struct Node;
}

// Options for factories; an aggregate, so call sites read
//   Tensor::zeros({2, 3}, {.dtype = kFloat64, .requires_grad = true})
struct Options {
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

namespace detail {
// Throws kiln::Error naming `op` when `device` is a GPU this process cannot use (no GPU,
// no driver, no CUDA build, or an index past the last GPU); nothing for the CPU. Every
// factory calls it first, so Tensor::zeros({2}, {.device = Device::cuda()}) on a machine
// without a GPU fails with "zeros: cuda:0 requested, but there is no usable CUDA GPU ...".
void check_device(Device device, const char* op);
}  // namespace detail

struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<struct TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;           // null for leaves
  std::weak_ptr<autograd::Node> grad_accumulator;    // leaves only, made on first use
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  AutogradMeta autograd;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories --------------------------------------------------------------
  static Tensor empty(const Shape& shape, Options o = {});  // uninitialised
  static Tensor zeros(const Shape& shape, Options o = {});
  static Tensor ones(const Shape& shape, Options o = {});
  static Tensor full(const Shape& shape, double value, Options o = {});
  static Tensor scalar(double value, Options o = {});  // 0-d
  // [start, end) by step, like torch.arange.
  static Tensor arange(double start, double end, double step = 1, Options o = {});
  static Tensor arange(double end, Options o = {}) { return arange(0, end, 1, o); }
  static Tensor linspace(double start, double end, std::int64_t steps, Options o = {});
  static Tensor eye(std::int64_t n, Options o = {});
  // Uniform on [0, 1), standard normal, integers in [low, high): Philox streams.
  static Tensor rand(const Shape& shape, Options o = {}, Generator* gen = nullptr);
  static Tensor randn(const Shape& shape, Options o = {}, Generator* gen = nullptr);
  static Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape,
                        Options o = {.dtype = DType::Int64}, Generator* gen = nullptr);
  // Copies values (any arithmetic T) into a new tensor of the given shape and dtype.
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Options o = {});
  // Tensor::tensor({1., 2.}), Tensor::tensor({{1., 2.}, {3., 4.}})
  static Tensor tensor(std::initializer_list<double> values, Options o = {});
  static Tensor tensor(std::initializer_list<std::initializer_list<double>> rows,
                       Options o = {});
  static Tensor zeros_like(const Tensor& t);
  static Tensor ones_like(const Tensor& t);
  static Tensor full_like(const Tensor& t, double value);
  static Tensor empty_like(const Tensor& t);
  static Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
  static Tensor randn_like(const Tensor& t, Generator* gen = nullptr);

  // ---- metadata -----------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t size(std::int64_t dim) const;
  const Shape& strides() const;
  std::int64_t stride(std::int64_t dim) const;
  std::int64_t offset() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t numel() const { return numel_of(shape()); }
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles view the same storage (views share storage).
  bool shares_storage_with(const Tensor& other) const;
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  std::string str() const;  // PyTorch-like printing, see tensor/print.cpp

  // ---- data access (CPU) --------------------------------------------------------
  // Typed pointer to the first element of the view; checks dtype and device.
  template <class T> T* data_ptr() const;
  // Raw pointer to the first element of the view (any device).
  void* raw_data() const;
  // The value of a one-element tensor, converted to double (or T).
  double item() const;
  template <class T> T item() const { return static_cast<T>(item()); }
  // All elements in row-major order, converted to T (works for any strides/device).
  template <class T> std::vector<T> to_vector() const;
  // Reads / writes one element by multi-index (CPU only; slow, for tests and tools).
  double at(const std::vector<std::int64_t>& index) const;
  void set_at(const std::vector<std::int64_t>& index, double value);

  // ---- conversion and copies ----------------------------------------------------
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor clone() const;
  Tensor contiguous() const;  // returns *this when already contiguous
  Tensor detach() const;      // same storage, no autograd history
  // In-place copy of src's values into this view (broadcast, no autograd).
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0); }

  // ---- autograd -----------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool enabled = true);
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward reaches this tensor
  void set_grad(const Tensor& g);
  std::shared_ptr<autograd::Node> grad_fn() const;
  // Seeds with ones for a one-element tensor; otherwise `gradient` is required.
  void backward(const Tensor& gradient = {}, bool retain_graph = false,
                bool create_graph = false) const;

  // ---- views (share storage; see Note [Strides]) --------------------------------
  Tensor view(const Shape& shape) const;     // never copies; throws if impossible
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor transpose(std::int64_t d0, std::int64_t d1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  // Python's x[start:end:step] along dim (negative start/end count from the end).
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end,
               std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  // Pieces along dim; each piece is a view (torch semantics: the last may be smaller).
  std::vector<Tensor> split(std::int64_t split_size, std::int64_t dim = 0) const;
  std::vector<Tensor> chunk(std::int64_t chunks, std::int64_t dim = 0) const;
  // Tiles the tensor (a copy, torch.Tensor.repeat).
  Tensor repeat(const Shape& repeats) const;

  // ---- element-wise -------------------------------------------------------------
  Tensor neg() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor abs() const;
  Tensor sign() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor silu() const;
  Tensor gelu() const;
  Tensor relu() const;
  Tensor erf() const;
  Tensor square() const;
  Tensor reciprocal() const;
  Tensor clamp(std::optional<double> min, std::optional<double> max) const;
  Tensor pow(double exponent) const;
  Tensor pow(const Tensor& exponent) const;

  // ---- reductions (dims empty = all dims) ---------------------------------------
  Tensor sum(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  // correction = 1 is the unbiased (Bessel) estimate, as in torch.var.
  Tensor var(const std::vector<std::int64_t>& dims = {}, std::int64_t correction = 1,
             bool keepdim = false) const;
  Tensor std(const std::vector<std::int64_t>& dims = {}, std::int64_t correction = 1,
             bool keepdim = false) const;
  Tensor max(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor min(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor argmax(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor logsumexp(const std::vector<std::int64_t>& dims, bool keepdim = false) const;
  Tensor softmax(std::int64_t dim) const;
  Tensor log_softmax(std::int64_t dim) const;

  // ---- linear algebra -----------------------------------------------------------
  Tensor matmul(const Tensor& other) const;
  Tensor bmm(const Tensor& other) const;

  // ---- indexing -----------------------------------------------------------------
  Tensor gather(std::int64_t dim, const Tensor& index) const;
  Tensor index_select(std::int64_t dim, const Tensor& index) const;

 private:
  void check_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

// ---- free functions (the ops themselves live in autograd/ops/) ------------------
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
// Comparisons return a mask of 0/1 in the inputs' dtype (kiln has no bool dtype).
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double b);
Tensor operator!=(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Options o) {
  KILN_CHECK(static_cast<std::int64_t>(values.size()) == numel_of(shape),
             "from_vector: {} values do not fill shape {}", values.size(), shape_str(shape));
  detail::check_device(o.device, "from_vector");
  Tensor out = empty(shape, {.dtype = o.dtype});
  dispatch(o.dtype, [&]<class U>() {
    U* dst = out.data_ptr<U>();
    for (size_t i = 0; i < values.size(); ++i) dst[i] = static_cast<U>(values[i]);
  });
  if (!o.device.is_cpu()) out = out.to(o.device);
  if (o.requires_grad) out.requires_grad_(true);
  return out;
}

}  // namespace kiln

template <>
struct fmt::formatter<kiln::Tensor> : fmt::formatter<std::string> {
  auto format(const kiln::Tensor& t, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(t.str(), ctx);
  }
};
