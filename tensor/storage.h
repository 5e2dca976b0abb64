#pragma once
// Storage: one flat, reference-counted buffer of bytes on one device. Tensors are views
// onto a Storage (see Note [Strides] in shape.h); many tensors may share one.
#include <cstddef>
#include <memory>

#include "tensor/device.h"

namespace kiln {

class Storage {
 public:
  // Uninitialised memory; CPU buffers are 64-byte aligned for the SIMD kernels.
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

}  // namespace kiln
