#pragma once
// Raw tensor plumbing shared by the factories and the ops: building views and copies
// without recording anything for autograd. Not part of the user-facing API.
#include "tensor/tensor.h"

namespace kiln::detail {

Tensor make_tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides,
                   std::int64_t offset, DType dtype);
// A new handle onto base's storage with the given geometry (no autograd history).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, std::int64_t offset);
// dst (any strides) = src (same shape; dtype converted; devices may differ).
void copy_strided(const Tensor& src, const Tensor& dst);
// A fresh contiguous copy of src on src's device, converted to dtype.
Tensor contiguous_copy(const Tensor& src, DType dtype);
// A fresh contiguous copy of src on `device`.
Tensor copy_to_device(const Tensor& src, Device device);

}  // namespace kiln::detail
