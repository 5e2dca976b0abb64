// bench_gpu: kiln's CUDA backend on two real workloads, side by side with PyTorch eager
// on the same GPU (bench/gpu/torch_gpu.py, run in the same process tree), as ratios:
//
//   train   one DDPM training step of ddpm-cifar10 (shared/REFERENCE_MODELS.md) at batch
//           128: t ~ U{1..T}, ε ~ N(0, I), x_t by E7, L_simple, zero_grad, backward, Adam
//           (lr 2e-4); float32 with TF32 matrix products (cuda::set_allow_tf32), as
//           PyTorch's default for convolutions
//   sample  DDIM (η = 0) with 50 steps ("ddim50") on 64 images, eval mode, no autograd
//
//   bench_gpu [--config NAME] [--batch B] [--steps N] [--warmup N] [--samples N]
//             [--sample-steps S] [--sample-runs R] [--no-tf32] [--json PATH]
//             [--python PATH] [--no-torch]
//
// Prints a table (median times, kiln / PyTorch ratios, the target ratio 1.5) and writes
// the numbers to --json (default bench_gpu.json). Without a usable GPU it measures
// nothing: it says why and exits with 77 ("skipped"), so a script can tell "not run"
// from "ran and failed" (any other non-zero code).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion/forward.h"
#include "diffusion/models.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "bench/common.h"
#include "kiln.h"

#ifndef KILN_BENCH_GPU_SCRIPT
#define KILN_BENCH_GPU_SCRIPT "bench/gpu/torch_gpu.py"
#endif

namespace {

using kiln::bench::Clock;
using kiln::bench::median;
using kiln::bench::run_capture;
using kiln::bench::seconds_since;
using kiln::Tensor;
namespace diffusion = kiln::diffusion;

constexpr int kSkipped = 77;
constexpr double kTargetRatio = 1.5;

struct Args {
  std::string config = "ddpm-cifar10";
  std::int64_t batch = 128, steps = 20, warmup = 3, samples = 64, sample_steps = 50,
               sample_runs = 3;
  bool tf32 = true, torch = true;
  std::string json = "bench_gpu.json", python = "/usr/bin/python3";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      KILN_CHECK(i + 1 < argc, "bench_gpu: {} needs a value", k);
      return argv[++i];
    };
    if (k == "--config") a.config = next();
    else if (k == "--batch") a.batch = std::stoll(next());
    else if (k == "--steps") a.steps = std::stoll(next());
    else if (k == "--warmup") a.warmup = std::stoll(next());
    else if (k == "--samples") a.samples = std::stoll(next());
    else if (k == "--sample-steps") a.sample_steps = std::stoll(next());
    else if (k == "--sample-runs") a.sample_runs = std::stoll(next());
    else if (k == "--no-tf32") a.tf32 = false;
    else if (k == "--json") a.json = next();
    else if (k == "--python") a.python = next();
    else if (k == "--no-torch") a.torch = false;
    else kiln::fail("bench_gpu: unknown option {} (see the comment at the top of bench_gpu.cpp)", k);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  if (!kiln::cuda::is_available()) {
    std::printf("bench_gpu: SKIPPED - this benchmark needs a CUDA GPU, and none is usable here "
                "(%s). Nothing was measured.\n",
                kiln::cuda::unavailable_reason().c_str());
    return kSkipped;
  }
  const kiln::Device gpu = kiln::Device::cuda(0);
  const std::string device_name = kiln::cuda::device_name(0);
  kiln::cuda::set_allow_tf32(a.tf32);

  // ---- kiln: training steps --------------------------------------------------------
  kiln::manual_seed(0);
  auto model = diffusion::make_model(a.config);
  model->to(gpu);
  model->train();
  kiln::optim::Adam opt(model->parameters(), 2e-4);
  const diffusion::Schedule schedule = diffusion::Schedule::linear();
  kiln::Generator gen(1);
  const kiln::Shape shape = {a.batch, 3, 32, 32};
  const Tensor x0 = Tensor::randn(shape, {.device = gpu}, &gen);
  auto step = [&] {
    const Tensor t =
        Tensor::randint(1, schedule.T + 1, {a.batch}, {.dtype = kiln::kInt64, .device = gpu}, &gen);
    const Tensor eps = Tensor::randn(shape, {.device = gpu}, &gen);
    const Tensor loss = kiln::mse_loss(model->forward(diffusion::q_sample(schedule, x0, t, eps), t), eps);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();  // synchronises
  };
  kiln::cuda::reset_peak_memory_stats();
  for (std::int64_t i = 0; i < a.warmup; ++i) step();
  std::vector<double> train_times;
  for (std::int64_t i = 0; i < a.steps; ++i) {
    const auto t0 = Clock::now();
    step();
    train_times.push_back(seconds_since(t0));
  }
  const double peak_train_mb =
      static_cast<double>(kiln::cuda::memory_stats().peak_allocated) / (1 << 20);

  // ---- kiln: DDIM sampling ---------------------------------------------------------
  model->eval();
  const diffusion::Schedule ddim =
      diffusion::respace(schedule, diffusion::space_timesteps(schedule.T, fmt::format("ddim{}", a.sample_steps)));
  const diffusion::EpsModel eps_model = [&](const Tensor& x, const Tensor& t) {
    return model->forward(x, t);
  };
  auto sample = [&] {
    const Tensor x_T = Tensor::randn({a.samples, 3, 32, 32}, {.device = gpu}, &gen);
    const Tensor x = diffusion::sample_ddim(ddim, eps_model, x_T).x;
    kiln::cuda::synchronize();
    return x;
  };
  sample();
  std::vector<double> sample_times;
  for (std::int64_t i = 0; i < a.sample_runs; ++i) {
    const auto t0 = Clock::now();
    sample();
    sample_times.push_back(seconds_since(t0));
  }
  const kiln::cuda::MemoryStats mem = kiln::cuda::memory_stats();

  nlohmann::json out;
  out["kiln"] = {{"device", device_name},
                 {"config", a.config},
                 {"batch", a.batch},
                 {"tf32", a.tf32},
                 {"params", model->num_parameters()},
                 {"train_median_s", median(train_times)},
                 {"train_min_s", *std::min_element(train_times.begin(), train_times.end())},
                 {"train_times_s", train_times},
                 {"samples", a.samples},
                 {"sample_steps", a.sample_steps},
                 {"sample_median_s", median(sample_times)},
                 {"sample_times_s", sample_times},
                 {"peak_gpu_mb_train", peak_train_mb},
                 {"reserved_gpu_mb", static_cast<double>(mem.reserved) / (1 << 20)}};

  // ---- PyTorch, same GPU -----------------------------------------------------------
  nlohmann::json torch;
  std::string torch_note;
  if (a.torch) {
    kiln::cuda::empty_cache();  // leave PyTorch the memory kiln no longer uses
    const std::string cmd = fmt::format(
        "{} {} --config {} --batch {} --steps {} --warmup {} --samples {} --sample-steps {} "
        "--sample-runs {} {} --json 2>&1",
        a.python, KILN_BENCH_GPU_SCRIPT, a.config, a.batch, a.steps, a.warmup, a.samples,
        a.sample_steps, a.sample_runs, a.tf32 ? "" : "--no-tf32");
    int status = 0;
    const std::string text = run_capture(cmd, &status);
    const auto brace = text.rfind("\n{");
    try {
      torch = nlohmann::json::parse(brace == std::string::npos ? text : text.substr(brace + 1));
      if (torch.contains("error")) {
        torch_note = torch["error"].get<std::string>();
        torch = nlohmann::json();
      }
    } catch (const std::exception&) {
      torch_note = fmt::format("PyTorch side did not run (exit status {}): {}", status,
                               text.substr(0, 300));
    }
  } else {
    torch_note = "--no-torch";
  }
  out["pytorch"] = torch.is_null() ? nlohmann::json(torch_note) : torch;

  // ---- the table --------------------------------------------------------------------
  const double kt = median(train_times), ks = median(sample_times);
  std::printf("\nbench_gpu on %s: %s, %s\n", device_name.c_str(), a.config.c_str(),
              a.tf32 ? "float32 with TF32 matrix products" : "float32 (no TF32)");
  std::printf("%-36s %12s %12s %16s\n", "workload (median)", "kiln", "PyTorch", "kiln / PyTorch");
  auto row = [&](const std::string& name, double k, const char* key, double unit,
                 const char* suffix) {
    if (torch.is_null()) {
      std::printf("%-36s %10.2f %s %12s %16s\n", name.c_str(), k * unit, suffix, "-", "-");
      return std::nan("");
    }
    const double p = torch[key].get<double>();
    std::printf("%-36s %10.2f %s %10.2f %s %15.2fx\n", name.c_str(), k * unit, suffix, p * unit,
                suffix, k / p);
    return k / p;
  };
  const double r_train =
      row(fmt::format("train step, batch {} (Adam)", a.batch), kt, "train_median_s", 1e3, "ms");
  const double r_sample =
      row(fmt::format("DDIM {} steps, {} images", a.sample_steps, a.samples), ks, "sample_median_s", 1.0, "s ");
  std::printf("%-36s %10.0f MiB %s\n", "kiln peak GPU memory (training)", peak_train_mb,
              torch.is_null() ? "" : fmt::format("  PyTorch {:.0f} MiB", torch["peak_gpu_mb"].get<double>()).c_str());
  if (torch.is_null()) {
    std::printf("PyTorch: %s\n", torch_note.c_str());
  } else {
    std::printf("target: kiln / PyTorch <= %.1fx -- train %s, sampling %s\n", kTargetRatio,
                r_train <= kTargetRatio ? "met" : "NOT met", r_sample <= kTargetRatio ? "met" : "NOT met");
    out["ratio_train"] = r_train;
    out["ratio_sample"] = r_sample;
  }
  out["target_ratio"] = kTargetRatio;
  return kiln::bench::write_json(a.json, out, "bench_gpu");
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_gpu: %s\n", e.what());
  return 1;
}
