// cuda/no_cuda.cpp on its own (tests/CMakeLists.txt builds it into test_no_cuda_stubs
// without the rest of kiln, whatever the build): every kiln::cuda function of a build
// without CUDA exists, and each kernel and copy throws a kiln::Error naming itself,
// while the questions (is_available, memory_stats, ...) answer without throwing.
#include <doctest/doctest.h>

#include <string>

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

using namespace kiln;

namespace {

template <class F>
void expect_stub(const char* name, F&& f) {
  INFO(name);
  try {
    f();
    FAIL("no error from the stub of ", name);
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.rfind(std::string(name) + " has no CUDA build", 0) == 0);
  }
}

}  // namespace

TEST_CASE("no_cuda stubs: the questions answer, the settings are accepted") {
  CHECK_FALSE(cuda::is_available());
  CHECK_FALSE(cuda::built_with_cuda());
  CHECK(cuda::device_count() == 0);
  CHECK(cuda::unavailable_reason() == "kiln was built without CUDA");
  CHECK(cuda::memory_stats().reserved == 0);
  CHECK_NOTHROW(cuda::empty_cache());
  CHECK_NOTHROW(cuda::synchronize());
  CHECK_NOTHROW(cuda::reset_peak_memory_stats());
  CHECK_NOTHROW(cuda::deallocate(nullptr, 0, 0));
  cuda::set_allow_tf32(true);
  CHECK_FALSE(cuda::allow_tf32());
  cuda::set_conv_workspace_limit(1234);
  CHECK(cuda::conv_workspace_limit() == 1234);
  CHECK_THROWS_WITH_AS(cuda::require_device(0, "zeros"),
                       doctest::Contains("zeros: cuda:0 requested, but kiln was built without CUDA"),
                       Error);
}

TEST_CASE("no_cuda stubs: every kernel and copy throws naming itself") {
  float f = 0;
  double d = 0;
  std::int64_t i = 0;
  const Layout l;
  cuda::Conv2dParams cp;
  cuda::Pool2dParams pp;
  cuda::Interpolate2dParams ip;
  expect_stub("device_name", [] { cuda::device_name(0); });
  expect_stub("allocate", [] { cuda::allocate(4, 0); });
  expect_stub("copy_host_to_device", [&] { cuda::copy_host_to_device(&f, &f, 4, 0); });
  expect_stub("copy_device_to_host", [&] { cuda::copy_device_to_host(&f, &f, 4, 0); });
  expect_stub("copy_device_to_device", [&] { cuda::copy_device_to_device(&f, &f, 4, 0); });
  expect_stub("unary", [&] { cuda::unary<float>(UnaryOp::Exp, &f, l, &f); });
  expect_stub("binary", [&] { cuda::binary<double>(BinaryOp::Add, &d, l, &d, l, &d); });
  expect_stub("where", [&] { cuda::where<std::int64_t>(&i, l, &i, l, &i, l, &i); });
  expect_stub("clamp", [&] { cuda::clamp<float>(&f, l, true, 0.f, false, 0.f, &f); });
  expect_stub("copy", [&] { cuda::copy<float, double>(&f, l, &d, l); });
  expect_stub("fill", [&] { cuda::fill<std::int64_t>(&i, l, 1); });
  expect_stub("reduce", [&] { cuda::reduce<float>(cuda::ReduceOp::Sum, &f, &f, 1, 1); });
  expect_stub("arg_reduce", [&] { cuda::arg_reduce<double>(true, &d, &i, 1, 1); });
  expect_stub("softmax_forward", [&] { cuda::softmax_forward<float>(&f, &f, 1, 1, 1, false); });
  expect_stub("softmax_backward", [&] { cuda::softmax_backward<float>(&f, &f, &f, 1, 1, 1, true); });
  expect_stub("gemm", [&] { cuda::gemm<float>(false, false, 1, 1, 1, 1.f, &f, 1, &f, 1, 0.f, &f, 1); });
  expect_stub("gemm_strided_batched", [&] {
    cuda::gemm_strided_batched<double>(false, false, 1, 1, 1, 1., &d, 1, 0, &d, 1, 0, 0., &d, 1, 0, 1);
  });
  expect_stub("conv2d_forward", [&] { cuda::conv2d_forward<float>(cp, &f, &f, nullptr, &f); });
  expect_stub("conv2d_backward_input", [&] { cuda::conv2d_backward_input<float>(cp, &f, &f, &f); });
  expect_stub("conv2d_backward_weight", [&] { cuda::conv2d_backward_weight<float>(cp, &f, &f, &f); });
  expect_stub("conv2d_backward_bias", [&] { cuda::conv2d_backward_bias<double>(cp, &d, &d); });
  expect_stub("avg_pool2d_forward", [&] { cuda::avg_pool2d_forward<float>(pp, &f, &f); });
  expect_stub("avg_pool2d_backward", [&] { cuda::avg_pool2d_backward<float>(pp, &f, &f); });
  expect_stub("max_pool2d_forward", [&] { cuda::max_pool2d_forward<float>(pp, &f, &f, &i); });
  expect_stub("max_pool2d_backward", [&] { cuda::max_pool2d_backward<float>(pp, &f, &i, &f); });
  expect_stub("interpolate_nearest_forward", [&] { cuda::interpolate_nearest_forward<float>(ip, &f, &f); });
  expect_stub("interpolate_nearest_backward", [&] { cuda::interpolate_nearest_backward<float>(ip, &f, &f); });
  expect_stub("interpolate_bilinear_forward", [&] { cuda::interpolate_bilinear_forward<float>(ip, &f, &f); });
  expect_stub("interpolate_bilinear_backward", [&] { cuda::interpolate_bilinear_backward<double>(ip, &d, &d); });
  expect_stub("group_norm_forward", [&] {
    cuda::group_norm_forward<float>(&f, nullptr, nullptr, &f, &f, &f, 1, 1, 1, 1, 1e-5);
  });
  expect_stub("group_norm_backward", [&] {
    cuda::group_norm_backward<float>(&f, &f, &f, &f, nullptr, &f, nullptr, nullptr, 1, 1, 1, 1);
  });
  expect_stub("layer_norm_forward", [&] {
    cuda::layer_norm_forward<double>(&d, nullptr, nullptr, &d, &d, &d, 1, 1, 1e-5);
  });
  expect_stub("layer_norm_backward", [&] {
    cuda::layer_norm_backward<double>(&d, &d, &d, &d, nullptr, &d, nullptr, nullptr, 1, 1);
  });
  expect_stub("batch_norm_forward", [&] {
    cuda::batch_norm_forward<float>(&f, nullptr, nullptr, nullptr, nullptr, &f, &f, &f, 1, 1, 2,
                                    true, 0.1, 1e-5);
  });
  expect_stub("batch_norm_backward", [&] {
    cuda::batch_norm_backward<float>(&f, &f, &f, &f, nullptr, &f, nullptr, nullptr, 1, 1, 2, true);
  });
  expect_stub("gather", [&] { cuda::gather<float>(&f, &i, &f, 1, 1, 1, 1); });
  expect_stub("scatter_add", [&] { cuda::scatter_add<double>(&d, &i, &d, 1, 1, 1, 1); });
  expect_stub("index_select", [&] { cuda::index_select<std::int64_t>(&i, &i, 1, &i, 1, 1, 1); });
  expect_stub("index_add", [&] { cuda::index_add<float>(&f, &i, 1, &f, 1, 1, 1); });
  expect_stub("adam_update", [&] {
    cuda::adam_update<float>(&f, &f, &f, &f, 1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1);
  });
  expect_stub("sgd_update", [&] { cuda::sgd_update<double>(&d, &d, nullptr, 1, 0.1, 0, 0, false, 0, true); });
  expect_stub("philox_uniform", [&] { cuda::philox_uniform<float>(1, 0, &f, 1, 0.f, 1.f); });
  expect_stub("philox_normal", [&] { cuda::philox_normal<double>(1, 0, &d, 1, 0., 1.); });
  expect_stub("philox_randint", [&] { cuda::philox_randint(1, 0, &i, 1, 0, 5); });
}
