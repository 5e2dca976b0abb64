#include "tensor/storage.h"

#include <cstdlib>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln {

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    // aligned_alloc wants a multiple of the alignment; round up (and never 0 bytes).
    const std::size_t rounded = ((nbytes + 63) / 64) * 64;
    data_ = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    KILN_CHECK(data_ != nullptr, "Storage: out of memory allocating {} bytes on cpu", nbytes);
  } else {
    data_ = cuda::allocate(nbytes, device.index);
  }
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    std::free(data_);
  } else {
    cuda::deallocate(data_, nbytes_, device_.index);
  }
}

}  // namespace kiln
