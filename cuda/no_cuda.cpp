// Stubs for a build without CUDA: every kiln::cuda function exists and throws a
// message naming itself, so a CPU-only binary links and says clearly what is missing.
#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln::cuda {
namespace {
[[noreturn]] void no_cuda(const char* name) {
  throw Error(fmt::format("{} has no CUDA build: kiln was built without CUDA "
                          "(configure with a CUDA toolkit and -DKILN_CUDA=ON)",
                          name));
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
bool built_with_cuda() { return false; }
std::string device_name(int) { no_cuda("device_name"); }
void* allocate(std::size_t, int) { no_cuda("allocate"); }
void deallocate(void*, std::size_t, int) {}
void copy_host_to_device(void*, const void*, std::size_t, int) { no_cuda("copy_host_to_device"); }
void copy_device_to_host(void*, const void*, std::size_t, int) { no_cuda("copy_device_to_host"); }
void copy_device_to_device(void*, const void*, std::size_t, int) {
  no_cuda("copy_device_to_device");
}

}  // namespace kiln::cuda
