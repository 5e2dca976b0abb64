// Tensor metadata, data access, factories and raw (non-differentiable) copies.
// The differentiable methods (views, math, to/clone/contiguous) are defined in
// autograd/ops/, next to their backward formulas.
#include "tensor/tensor.h"

#include <cmath>
#include <cstring>

#include "cuda/elementwise.h"
#include "cuda/random.h"
#include "tensor/backend.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/detail.h"
#include "tensor/random.h"

namespace kiln {

// ---- metadata ---------------------------------------------------------------------

void Tensor::check_defined(const char* what) const {
  KILN_CHECK(impl_ != nullptr, "{}: called on an undefined tensor", what);
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}
std::int64_t Tensor::size(std::int64_t dim) const {
  return shape()[normalize_dim(dim, this->dim(), "size")];
}
const Shape& Tensor::strides() const {
  check_defined("strides");
  return impl_->strides;
}
std::int64_t Tensor::stride(std::int64_t dim) const {
  return strides()[normalize_dim(dim, this->dim(), "stride")];
}
std::int64_t Tensor::offset() const {
  check_defined("offset");
  return impl_->offset;
}
DType Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined("device");
  return impl_->storage->device();
}
const std::shared_ptr<Storage>& Tensor::storage() const {
  check_defined("storage");
  return impl_->storage;
}
bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

bool Tensor::is_contiguous() const {
  // Sizes 1 may have any stride; everything else must be row-major.
  std::int64_t expected = 1;
  for (int d = static_cast<int>(dim()) - 1; d >= 0; --d) {
    if (impl_->shape[d] == 1) continue;
    if (impl_->strides[d] != expected) return false;
    expected *= impl_->shape[d];
  }
  return true;
}

// ---- data access ------------------------------------------------------------------

void* Tensor::raw_data() const {
  check_defined("raw_data");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * itemsize(impl_->dtype);
}

template <class T>
T* Tensor::data_ptr() const {
  check_defined("data_ptr");
  KILN_CHECK(impl_->dtype == dtype_of<T>(), "data_ptr: tensor has dtype {}, asked for {}",
             impl_->dtype, dtype_of<T>());
  KILN_CHECK(device().is_cpu(),
             "data_ptr: tensor is on {}; move it with .to(Device::cpu()) to read it on the host",
             device());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template std::int64_t* Tensor::data_ptr<std::int64_t>() const;

double Tensor::item() const {
  check_defined("item");
  KILN_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, expected 1",
             shape_str(shape()), numel());
  return to_vector<double>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_defined("to_vector");
  Tensor host = device().is_cpu() ? *this : detail::copy_to_device(*this, Device::cpu());
  std::vector<T> out(static_cast<size_t>(host.numel()));
  const Layout dst = Layout::make(host.shape(), contiguous_strides(host.shape()));
  dispatch(host.dtype(), [&]<class S>() {
    cpu::copy<S, T>(static_cast<const S*>(host.raw_data()),
                    Layout::make(host.shape(), host.strides()), out.data(), dst);
  });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

namespace {
std::int64_t element_offset(const Tensor& t, const std::vector<std::int64_t>& index,
                            const char* op) {
  KILN_CHECK(static_cast<std::int64_t>(index.size()) == t.dim(),
             "{}: index has {} entries for a tensor of shape {}", op, index.size(),
             shape_str(t.shape()));
  KILN_CHECK(t.device().is_cpu(), "{}: tensor is on {}, expected cpu", op, t.device());
  std::int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    std::int64_t i = index[d] < 0 ? index[d] + t.shape()[d] : index[d];
    KILN_CHECK(i >= 0 && i < t.shape()[d], "{}: index {} out of range for dim {} of shape {}",
               op, index[d], d, shape_str(t.shape()));
    off += i * t.strides()[d];
  }
  return off;
}
}  // namespace

double Tensor::at(const std::vector<std::int64_t>& index) const {
  const std::int64_t off = element_offset(*this, index, "at");
  return dispatch(dtype(), [&]<class T>() {
    return static_cast<double>(static_cast<const T*>(raw_data())[off]);
  });
}

void Tensor::set_at(const std::vector<std::int64_t>& index, double value) {
  const std::int64_t off = element_offset(*this, index, "set_at");
  dispatch(dtype(), [&]<class T>() { static_cast<T*>(raw_data())[off] = static_cast<T>(value); });
}

// ---- raw helpers shared by the factories and ops ----------------------------------

namespace detail {

Tensor make_tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides,
                   std::int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, std::int64_t offset) {
  return make_tensor(base.storage(), std::move(shape), std::move(strides), offset, base.dtype());
}

void copy_strided(const Tensor& src, const Tensor& dst) {
  KILN_CHECK(src.shape() == dst.shape(), "copy: shapes {} and {} differ", shape_str(src.shape()),
             shape_str(dst.shape()));
  if (src.numel() == 0) return;
  const Device dev = dst.device();
  if (src.device() != dev) {
    // Stage through a contiguous buffer on the destination device, in src's dtype; the
    // conversion (if any) then happens there.
    Tensor staged = copy_to_device(src, dev);
    copy_strided(staged, dst);
    return;
  }
  const Layout ls = Layout::make(src.shape(), src.strides());
  const Layout ld = Layout::make(dst.shape(), dst.strides());
  dispatch(src.dtype(), [&]<class S>() {
    dispatch(dst.dtype(), [&]<class D>() {
      const auto* from = static_cast<const S*>(src.raw_data());
      auto* to = static_cast<D*>(dst.raw_data());
      if (dev.is_cpu()) cpu::copy<S, D>(from, ls, to, ld);
      else cuda::copy<S, D>(from, ls, to, ld);
    });
  });
}

Tensor contiguous_copy(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), {.dtype = dtype, .device = src.device()});
  copy_strided(src, out);
  return out;
}

Tensor copy_to_device(const Tensor& src, Device device) {
  check_device(device, "to");
  // Cross-device copies move whole contiguous buffers; make the source contiguous on
  // its own device first.
  Tensor c = src.is_contiguous() ? src : contiguous_copy(src, src.dtype());
  Tensor out = Tensor::empty(src.shape(), {.dtype = src.dtype(), .device = device});
  const std::size_t nbytes = static_cast<std::size_t>(c.numel()) * itemsize(c.dtype());
  if (nbytes == 0) return out;
  const Device from = c.device();
  if (from.is_cpu() && device.is_cpu()) {
    std::memcpy(out.raw_data(), c.raw_data(), nbytes);
  } else if (from.is_cpu()) {
    cuda::copy_host_to_device(out.raw_data(), c.raw_data(), nbytes, device.index);
  } else if (device.is_cpu()) {
    cuda::copy_device_to_host(out.raw_data(), c.raw_data(), nbytes, from.index);
  } else {
    KILN_CHECK(from.index == device.index, "copy: {} -> {} peer copies are not supported", from,
               device);
    cuda::copy_device_to_device(out.raw_data(), c.raw_data(), nbytes, device.index);
  }
  return out;
}

}  // namespace detail

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_");
  detail::copy_strided(src.dim() == dim() && src.shape() == shape() ? src : src.expand(shape()),
                       *this);
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_");
  const Layout l = Layout::make(shape(), strides());
  dispatch(dtype(), [&]<class T>() {
    auto kernel = device().is_cpu() ? &cpu::fill<T> : &cuda::fill<T>;
    kernel(static_cast<T*>(raw_data()), l, static_cast<T>(value));
  });
  return *this;
}

Tensor Tensor::detach() const {
  check_defined("detach");
  return detail::make_view(*this, shape(), strides(), offset());
}

// ---- factories --------------------------------------------------------------------

namespace {
Tensor finish(Tensor t, const Options& o) {
  if (!o.device.is_cpu()) t = detail::copy_to_device(t, o.device);
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

void detail::check_device(Device device, const char* op) {
  if (device.is_cuda()) cuda::require_device(device.index, op);
}

Tensor Tensor::empty(const Shape& shape, Options o) {
  for (auto s : shape)
    KILN_CHECK(s >= 0, "empty: negative size in shape {}", shape_str(shape));
  detail::check_device(o.device, "empty");
  const std::int64_t n = numel_of(shape);
  auto storage = std::make_shared<Storage>(static_cast<std::size_t>(n) * itemsize(o.dtype),
                                           o.device);
  Tensor t = detail::make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, o.dtype);
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}

namespace {
// Filled on its own device: no host buffer, no copy.
Tensor filled(const Shape& shape, double value, Options o, const char* op) {
  detail::check_device(o.device, op);
  Tensor t = Tensor::empty(shape, {.dtype = o.dtype, .device = o.device});
  t.fill_(value);
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor Tensor::full(const Shape& shape, double value, Options o) {
  return filled(shape, value, o, "full");
}
Tensor Tensor::zeros(const Shape& shape, Options o) { return filled(shape, 0, o, "zeros"); }
Tensor Tensor::ones(const Shape& shape, Options o) { return filled(shape, 1, o, "ones"); }
Tensor Tensor::scalar(double value, Options o) { return filled({}, value, o, "scalar"); }

Tensor Tensor::arange(double start, double end, double step, Options o) {
  KILN_CHECK(step != 0, "arange: step must be non-zero");
  detail::check_device(o.device, "arange");
  const double count = std::ceil((end - start) / step);
  const std::int64_t n = count > 0 ? static_cast<std::int64_t>(count) : 0;
  Tensor t = empty({n}, {.dtype = o.dtype});
  dispatch(o.dtype, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return finish(t, o);
}

Tensor Tensor::linspace(double start, double end, std::int64_t steps, Options o) {
  KILN_CHECK(steps >= 0, "linspace: steps must be non-negative, got {}", steps);
  detail::check_device(o.device, "linspace");
  Tensor t = empty({steps}, {.dtype = o.dtype});
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  dispatch(o.dtype, [&]<class T>() {
    T* p = t.data_ptr<T>();
    // Fill from both ends, as torch does, so the last value is exactly `end`.
    for (std::int64_t i = 0; i < steps; ++i) {
      p[i] = i < steps / 2 ? static_cast<T>(start + step * static_cast<double>(i))
                           : static_cast<T>(end - step * static_cast<double>(steps - 1 - i));
    }
  });
  return finish(t, o);
}

Tensor Tensor::eye(std::int64_t n, Options o) {
  detail::check_device(o.device, "eye");
  Tensor t = zeros({n, n}, {.dtype = o.dtype});
  for (std::int64_t i = 0; i < n; ++i) t.set_at({i, i}, 1.0);
  return finish(t, o);
}

// Random draws run on the tensor's own device: the stream (seed, offset) is the same,
// so the values are too (Note [Philox stream layout] in tensor/philox.h).
Tensor Tensor::rand(const Shape& shape, Options o, Generator* gen) {
  detail::check_device(o.device, "rand");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(shape, {.dtype = o.dtype, .device = o.device});
  const std::int64_t n = t.numel();
  dispatch_floating(o.dtype, "rand", [&]<class T>() {
    const std::uint64_t offset =
        g.advance(cpu::philox_blocks_for(n, sizeof(T) == 4 ? philox::kUniformF32PerBlock
                                                           : philox::kUniformF64PerBlock));
    auto kernel = o.device.is_cpu() ? &cpu::philox_uniform<T> : &cuda::philox_uniform<T>;
    kernel(g.seed(), offset, static_cast<T*>(t.raw_data()), n, T(0), T(1));
  });
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor Tensor::randn(const Shape& shape, Options o, Generator* gen) {
  detail::check_device(o.device, "randn");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(shape, {.dtype = o.dtype, .device = o.device});
  const std::int64_t n = t.numel();
  dispatch_floating(o.dtype, "randn", [&]<class T>() {
    const std::uint64_t offset =
        g.advance(cpu::philox_blocks_for(n, sizeof(T) == 4 ? philox::kNormalF32PerBlock
                                                           : philox::kNormalF64PerBlock));
    auto kernel = o.device.is_cpu() ? &cpu::philox_normal<T> : &cuda::philox_normal<T>;
    kernel(g.seed(), offset, static_cast<T*>(t.raw_data()), n, T(0), T(1));
  });
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor Tensor::randint(std::int64_t low, std::int64_t high, const Shape& shape, Options o,
                       Generator* gen) {
  KILN_CHECK(high > low, "randint: empty range [{}, {})", low, high);
  detail::check_device(o.device, "randint");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(shape, {.dtype = DType::Int64, .device = o.device});
  const std::int64_t n = t.numel();
  const std::uint64_t offset = g.advance(cpu::philox_blocks_for(n, philox::kRandintPerBlock));
  auto kernel = o.device.is_cpu() ? &cpu::philox_randint : &cuda::philox_randint;
  kernel(g.seed(), offset, static_cast<std::int64_t*>(t.raw_data()), n, low, high);
  if (o.dtype != DType::Int64) t = detail::contiguous_copy(t, o.dtype);
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor Tensor::tensor(std::initializer_list<double> values, Options o) {
  return from_vector(std::vector<double>(values), {static_cast<std::int64_t>(values.size())}, o);
}

Tensor Tensor::tensor(std::initializer_list<std::initializer_list<double>> rows, Options o) {
  std::vector<double> flat;
  const std::int64_t cols = rows.size() == 0 ? 0 : static_cast<std::int64_t>(rows.begin()->size());
  for (const auto& row : rows) {
    KILN_CHECK(static_cast<std::int64_t>(row.size()) == cols,
               "tensor: ragged rows ({} and {} values)", cols, row.size());
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return from_vector(flat, {static_cast<std::int64_t>(rows.size()), cols}, o);
}

namespace {
Options like(const Tensor& t) { return {.dtype = t.dtype(), .device = t.device()}; }
}  // namespace
Tensor Tensor::zeros_like(const Tensor& t) { return zeros(t.shape(), like(t)); }
Tensor Tensor::ones_like(const Tensor& t) { return ones(t.shape(), like(t)); }
Tensor Tensor::full_like(const Tensor& t, double value) { return full(t.shape(), value, like(t)); }
Tensor Tensor::empty_like(const Tensor& t) { return empty(t.shape(), like(t)); }
Tensor Tensor::rand_like(const Tensor& t, Generator* gen) { return rand(t.shape(), like(t), gen); }
Tensor Tensor::randn_like(const Tensor& t, Generator* gen) {
  return randn(t.shape(), like(t), gen);
}

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0) {
    try {
      return cuda(std::stoi(name.substr(5)));
    } catch (const std::exception&) {
    }
  }
  fail("Device: unknown device '{}' (expected cpu, cuda or cuda:N)", name);
}

}  // namespace kiln
