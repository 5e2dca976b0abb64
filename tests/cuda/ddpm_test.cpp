// A few training steps of ddpm-small (diffusion/models.h) on the CPU and on the GPU from
// the same weights and the same batches: the losses must agree to 1e-4 relative at
// every step. This exercises every kernel a real U-Net step uses (conv, group norm,
// attention, upsampling, embeddings, Adam) together. Test suite "gpu".
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "diffusion/loss.h"
#include "diffusion/models.h"
#include "kiln.h"
#include "parity.h"

using namespace kiln;
using test::gpu;

TEST_SUITE("gpu") {

TEST_CASE("ddpm-small: Adam steps give the same losses on the CPU and the GPU (1e-4 relative)") {
  REQUIRE_FALSE(cuda::allow_tf32());  // full float32 products, as on the CPU
  manual_seed(123);
  auto cpu_model = diffusion::make_model("ddpm-small");
  manual_seed(123);
  auto gpu_model = diffusion::make_model("ddpm-small");
  gpu_model->to(gpu());
  optim::Adam cpu_opt(cpu_model->parameters(), 2e-4);
  optim::Adam gpu_opt(gpu_model->parameters(), 2e-4);
  Generator gen(5);
  const std::int64_t B = 4;
  for (int step = 0; step < 4; ++step) {
    // A stand-in for q_sample: the schedule is not what is tested here.
    const Tensor x0 = Tensor::randn({B, 3, 32, 32}, {}, &gen);
    const Tensor eps = Tensor::randn({B, 3, 32, 32}, {}, &gen);
    const Tensor t = Tensor::randint(1, 1001, {B}, {.dtype = kInt64}, &gen);
    const Tensor x_t = 0.8 * x0 + 0.6 * eps;
    const Tensor loss_cpu = diffusion::l_simple(eps, cpu_model->forward(x_t, t));
    const Tensor loss_gpu =
        diffusion::l_simple(eps.to(gpu()), gpu_model->forward(x_t.to(gpu()), t.to(gpu())));
    const double lc = loss_cpu.item(), lg = loss_gpu.item();
    std::printf("ddpm-small step %d: loss cpu %.8f gpu %.8f (relative diff %.2e)\n", step, lc, lg,
                std::abs(lc - lg) / std::abs(lc));
    CHECK(std::abs(lc - lg) <= 1e-4 * std::abs(lc));
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    loss_cpu.backward();
    loss_gpu.backward();
    cpu_opt.step();
    gpu_opt.step();
  }
}

}  // TEST_SUITE("gpu")
