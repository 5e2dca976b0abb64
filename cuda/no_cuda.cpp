// Stubs for a build without CUDA: every kiln::cuda function exists and throws a
// message naming itself, so a CPU-only binary links and says clearly what is missing.
// Code that merely asks or sets a preference never fails: the discovery functions answer
// "no GPU", the statistics are zeros, and the settings (TF32, the conv workspace) are
// accepted and have no effect.
#include "cuda/conv.h"
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/index.h"
#include "cuda/interpolate.h"
#include "cuda/norm.h"
#include "cuda/optim.h"
#include "cuda/pool.h"
#include "cuda/random.h"
#include "cuda/reduce.h"
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

// ---- discovery and memory -------------------------------------------------------------

bool is_available() { return false; }
int device_count() { return 0; }
bool built_with_cuda() { return false; }
std::string unavailable_reason() { return "kiln was built without CUDA"; }
void require_device(int index, const char* op) {
  fail("{}: cuda:{} requested, but kiln was built without CUDA (configure with a CUDA toolkit "
       "and -DKILN_CUDA=ON)",
       op, index);
}
void synchronize() {}
std::string device_name(int) { no_cuda("device_name"); }
void* allocate(std::size_t, int) { no_cuda("allocate"); }
void deallocate(void*, std::size_t, int) {}
void copy_host_to_device(void*, const void*, std::size_t, int) { no_cuda("copy_host_to_device"); }
void copy_device_to_host(void*, const void*, std::size_t, int) { no_cuda("copy_device_to_host"); }
void copy_device_to_device(void*, const void*, std::size_t, int) {
  no_cuda("copy_device_to_device");
}
MemoryStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void set_allow_tf32(bool) {}
bool allow_tf32() { return false; }

namespace {
std::size_t g_conv_workspace_limit = std::size_t(256) << 20;
}  // namespace
void set_conv_workspace_limit(std::size_t bytes) { g_conv_workspace_limit = bytes; }
std::size_t conv_workspace_limit() { return g_conv_workspace_limit; }

// ---- elementwise ----------------------------------------------------------------------

template <class T>
void unary(UnaryOp, const T*, const Layout&, T*) { no_cuda("unary"); }
template <class T>
void binary(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*) { no_cuda("binary"); }
template <class T>
void where(const T*, const Layout&, const T*, const Layout&, const T*, const Layout&, T*) {
  no_cuda("where");
}
template <class T>
void clamp(const T*, const Layout&, bool, T, bool, T, T*) { no_cuda("clamp"); }
template <class Src, class Dst>
void copy(const Src*, const Layout&, Dst*, const Layout&) { no_cuda("copy"); }
template <class T>
void fill(T*, const Layout&, T) { no_cuda("fill"); }

// ---- reduce ---------------------------------------------------------------------------

template <class T>
void reduce(ReduceOp, const T*, T*, std::int64_t, std::int64_t) { no_cuda("reduce"); }
template <class T>
void arg_reduce(bool, const T*, std::int64_t*, std::int64_t, std::int64_t) { no_cuda("arg_reduce"); }
template <class T>
void softmax_forward(const T*, T*, std::int64_t, std::int64_t, std::int64_t, bool) {
  no_cuda("softmax_forward");
}
template <class T>
void softmax_backward(const T*, const T*, T*, std::int64_t, std::int64_t, std::int64_t, bool) {
  no_cuda("softmax_backward");
}

// ---- gemm -----------------------------------------------------------------------------

template <class T>
void gemm(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t, const T*,
          std::int64_t, T, T*, std::int64_t) {
  no_cuda("gemm");
}
template <class T>
void gemm_strided_batched(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*,
                          std::int64_t, std::int64_t, const T*, std::int64_t, std::int64_t, T, T*,
                          std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("gemm_strided_batched");
}

// ---- conv, pool, interpolate ----------------------------------------------------------

template <class T>
void conv2d_forward(const Conv2dParams&, const T*, const T*, const T*, T*) {
  no_cuda("conv2d_forward");
}
template <class T>
void conv2d_backward_input(const Conv2dParams&, const T*, const T*, T*) {
  no_cuda("conv2d_backward_input");
}
template <class T>
void conv2d_backward_weight(const Conv2dParams&, const T*, const T*, T*) {
  no_cuda("conv2d_backward_weight");
}
template <class T>
void conv2d_backward_bias(const Conv2dParams&, const T*, T*) { no_cuda("conv2d_backward_bias"); }

template <class T>
void avg_pool2d_forward(const Pool2dParams&, const T*, T*) { no_cuda("avg_pool2d_forward"); }
template <class T>
void avg_pool2d_backward(const Pool2dParams&, const T*, T*) { no_cuda("avg_pool2d_backward"); }
template <class T>
void max_pool2d_forward(const Pool2dParams&, const T*, T*, std::int64_t*) {
  no_cuda("max_pool2d_forward");
}
template <class T>
void max_pool2d_backward(const Pool2dParams&, const T*, const std::int64_t*, T*) {
  no_cuda("max_pool2d_backward");
}

template <class T>
void interpolate_nearest_forward(const Interpolate2dParams&, const T*, T*) {
  no_cuda("interpolate_nearest_forward");
}
template <class T>
void interpolate_nearest_backward(const Interpolate2dParams&, const T*, T*) {
  no_cuda("interpolate_nearest_backward");
}
template <class T>
void interpolate_bilinear_forward(const Interpolate2dParams&, const T*, T*) {
  no_cuda("interpolate_bilinear_forward");
}
template <class T>
void interpolate_bilinear_backward(const Interpolate2dParams&, const T*, T*) {
  no_cuda("interpolate_bilinear_backward");
}

// ---- norm -----------------------------------------------------------------------------

template <class T>
void group_norm_forward(const T*, const T*, const T*, T*, T*, T*, std::int64_t, std::int64_t,
                        std::int64_t, std::int64_t, double) {
  no_cuda("group_norm_forward");
}
template <class T>
void group_norm_backward(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,
                         std::int64_t, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("group_norm_backward");
}
template <class T>
void layer_norm_forward(const T*, const T*, const T*, T*, T*, T*, std::int64_t, std::int64_t,
                        double) {
  no_cuda("layer_norm_forward");
}
template <class T>
void layer_norm_backward(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,
                         std::int64_t, std::int64_t) {
  no_cuda("layer_norm_backward");
}
template <class T>
void batch_norm_forward(const T*, const T*, const T*, T*, T*, T*, T*, T*, std::int64_t,
                        std::int64_t, std::int64_t, bool, double, double) {
  no_cuda("batch_norm_forward");
}
template <class T>
void batch_norm_backward(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,
                         std::int64_t, std::int64_t, std::int64_t, bool) {
  no_cuda("batch_norm_backward");
}

// ---- index ----------------------------------------------------------------------------

template <class T>
void gather(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, std::int64_t,
            std::int64_t) {
  no_cuda("gather");
}
template <class T>
void scatter_add(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, std::int64_t,
                 std::int64_t) {
  no_cuda("scatter_add");
}
template <class T>
void index_select(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t, std::int64_t,
                  std::int64_t) {
  no_cuda("index_select");
}
template <class T>
void index_add(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t, std::int64_t,
               std::int64_t) {
  no_cuda("index_add");
}

// ---- optim, random --------------------------------------------------------------------

template <class T>
void adam_update(T*, const T*, T*, T*, std::int64_t, double, double, double, double, double, bool,
                 std::int64_t) {
  no_cuda("adam_update");
}
template <class T>
void sgd_update(T*, const T*, T*, std::int64_t, double, double, double, bool, double, bool) {
  no_cuda("sgd_update");
}
template <class T>
void philox_uniform(std::uint64_t, std::uint64_t, T*, std::int64_t, T, T) {
  no_cuda("philox_uniform");
}
template <class T>
void philox_normal(std::uint64_t, std::uint64_t, T*, std::int64_t, T, T) {
  no_cuda("philox_normal");
}
void philox_randint(std::uint64_t, std::uint64_t, std::int64_t*, std::int64_t, std::int64_t,
                    std::int64_t) {
  no_cuda("philox_randint");
}

// ---- instantiations: the same types as the CUDA build ---------------------------------

#define KILN_ALL_TYPES(T)                                                                     \
  template void unary<T>(UnaryOp, const T*, const Layout&, T*);                               \
  template void binary<T>(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*);    \
  template void where<T>(const T*, const Layout&, const T*, const Layout&, const T*,           \
                         const Layout&, T*);                                                  \
  template void clamp<T>(const T*, const Layout&, bool, T, bool, T, T*);                      \
  template void fill<T>(T*, const Layout&, T);                                                \
  template void copy<T, float>(const T*, const Layout&, float*, const Layout&);               \
  template void copy<T, double>(const T*, const Layout&, double*, const Layout&);             \
  template void copy<T, std::int64_t>(const T*, const Layout&, std::int64_t*, const Layout&); \
  template void reduce<T>(ReduceOp, const T*, T*, std::int64_t, std::int64_t);                \
  template void arg_reduce<T>(bool, const T*, std::int64_t*, std::int64_t, std::int64_t);     \
  template void gather<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t,      \
                          std::int64_t, std::int64_t);                                        \
  template void scatter_add<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t, \
                               std::int64_t, std::int64_t);                                   \
  template void index_select<T>(const T*, const std::int64_t*, std::int64_t, T*,              \
                                std::int64_t, std::int64_t, std::int64_t);                    \
  template void index_add<T>(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t,   \
                             std::int64_t, std::int64_t);
KILN_ALL_TYPES(float)
KILN_ALL_TYPES(double)
KILN_ALL_TYPES(std::int64_t)
#undef KILN_ALL_TYPES

#define KILN_FLOATING(T)                                                                       \
  template void softmax_forward<T>(const T*, T*, std::int64_t, std::int64_t, std::int64_t,     \
                                   bool);                                                      \
  template void softmax_backward<T>(const T*, const T*, T*, std::int64_t, std::int64_t,        \
                                    std::int64_t, bool);                                       \
  template void gemm<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*,     \
                        std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);            \
  template void gemm_strided_batched<T>(bool, bool, std::int64_t, std::int64_t, std::int64_t,  \
                                        T, const T*, std::int64_t, std::int64_t, const T*,     \
                                        std::int64_t, std::int64_t, T, T*, std::int64_t,       \
                                        std::int64_t, std::int64_t);                           \
  template void conv2d_forward<T>(const Conv2dParams&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_input<T>(const Conv2dParams&, const T*, const T*, T*);         \
  template void conv2d_backward_weight<T>(const Conv2dParams&, const T*, const T*, T*);        \
  template void conv2d_backward_bias<T>(const Conv2dParams&, const T*, T*);                    \
  template void avg_pool2d_forward<T>(const Pool2dParams&, const T*, T*);                      \
  template void avg_pool2d_backward<T>(const Pool2dParams&, const T*, T*);                     \
  template void max_pool2d_forward<T>(const Pool2dParams&, const T*, T*, std::int64_t*);       \
  template void max_pool2d_backward<T>(const Pool2dParams&, const T*, const std::int64_t*, T*); \
  template void interpolate_nearest_forward<T>(const Interpolate2dParams&, const T*, T*);      \
  template void interpolate_nearest_backward<T>(const Interpolate2dParams&, const T*, T*);     \
  template void interpolate_bilinear_forward<T>(const Interpolate2dParams&, const T*, T*);     \
  template void interpolate_bilinear_backward<T>(const Interpolate2dParams&, const T*, T*);    \
  template void group_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, std::int64_t,  \
                                      std::int64_t, std::int64_t, std::int64_t, double);       \
  template void group_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*,   \
                                       T*, T*, std::int64_t, std::int64_t, std::int64_t,       \
                                       std::int64_t);                                          \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, std::int64_t,  \
                                      std::int64_t, double);                                   \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*,   \
                                       T*, T*, std::int64_t, std::int64_t);                    \
  template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,        \
                                      std::int64_t, std::int64_t, std::int64_t, bool, double,  \
                                      double);                                                 \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*,   \
                                       T*, T*, std::int64_t, std::int64_t, std::int64_t, bool); \
  template void adam_update<T>(T*, const T*, T*, T*, std::int64_t, double, double, double,     \
                               double, double, bool, std::int64_t);                            \
  template void sgd_update<T>(T*, const T*, T*, std::int64_t, double, double, double, bool,    \
                              double, bool);                                                   \
  template void philox_uniform<T>(std::uint64_t, std::uint64_t, T*, std::int64_t, T, T);      \
  template void philox_normal<T>(std::uint64_t, std::uint64_t, T*, std::int64_t, T, T);
KILN_FLOATING(float)
KILN_FLOATING(double)
#undef KILN_FLOATING

}  // namespace kiln::cuda
