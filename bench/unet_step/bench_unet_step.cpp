// bench_unet_step: one DDPM training step of a U-Net (shared/REFERENCE_MODELS.md,
// ddpm-small by default) at batch 32 on the CPU in float32 — forward, L_simple, backward,
// Adam — beside PyTorch (bench/unet_step/torch_unet_step.py, the same architecture) in the
// same run, and then a profile of our step: where its time goes, op by op.
//
//   bench_unet_step [--config NAME] [--batch B] [--threads N] [--steps N] [--warmup N]
//                   [--rounds R] [--json PATH] [--python PATH] [--no-torch] [--no-profile]
//                   [--kiln-only-steps N]
//     --config NAME        ddpm-small (default), ddpm-tiny or ddpm-cifar10
//     --batch B            images per step (default 32)
//     --threads N          OpenMP threads for kiln, torch.set_num_threads for PyTorch (2)
//     --steps N            timed steps per side (default 20), after --warmup N (default 3)
//     --rounds R           alternate kiln and PyTorch R times (default 1) and keep each
//                          side's round with the lowest median: the machine is shared, and
//                          the least disturbed round is the fairest comparison
//     --json PATH          where the results go (default bench_unet_step.json)
//     --python PATH        the interpreter for torch_unet_step.py (default /usr/bin/python3)
//     --no-torch           kiln only
//     --no-profile         skip the profile
//     --kiln-only-steps N  run N kiln steps and exit (a target for `perf record`)
//
// A step is, on both sides:
//   t ~ U{1..T}, ε ~ N(0, I), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε      (E23, E7; x_0 fixed)
//   loss = mean((ε - ε̂(x_t, t))²)                               (E19)
//   zero_grad, backward, Adam(lr 2e-4) step.
// The table shows the median step (and the best); the ratio is kiln / PyTorch medians.
// Peak memory is each process's peak resident set (getrusage ru_maxrss), PyTorch's read
// by its own process; "before steps" is the same figure once the model and optimizer
// exist, before the first step (PyTorch's includes the interpreter and libtorch, so
// compare the growth as well as the totals). Ours is read before any PyTorch run would
// matter: a child's memory is not counted in RUSAGE_SELF.
//
// The profile runs a few more steps with
//   forward   the same forward as UNet::forward, written out here with a timer around
//             every op (the output is checked equal to model->forward's), by op family;
//   backward  every node of the recorded graph wrapped in a timing node
//             (autograd/node.h), so each op's backward is timed with its output shape;
//             what the engine does between nodes (summing gradients) is the remainder;
//   optimizer zero_grad and Adam's step.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/ops/attention.h"
#include "autograd/ops/index.h"
#include "autograd/ops/loss.h"
#include "diffusion/embedding.h"
#include "diffusion/forward.h"
#include "diffusion/schedule.h"
#include "diffusion/unet.h"
#include "bench/common.h"
#include "kiln.h"

#ifndef KILN_BENCH_UNET_STEP_SCRIPT
#define KILN_BENCH_UNET_STEP_SCRIPT "bench/unet_step/torch_unet_step.py"
#endif

namespace {

using kiln::bench::Clock;
using kiln::bench::file_exists;
using kiln::bench::load_average;
using kiln::bench::median;
using kiln::bench::peak_rss_mb;
using kiln::bench::run_capture;
using kiln::bench::seconds_since;
using kiln::Shape;
using kiln::Tensor;
namespace diffusion = kiln::diffusion;
namespace nn = kiln::nn;

// ---- the training step -----------------------------------------------------------------

struct Trainer {
  std::shared_ptr<diffusion::UNet> model;
  kiln::optim::Adam opt;
  diffusion::Schedule schedule = diffusion::Schedule::linear();
  Tensor x0;
  kiln::Generator gen{1};
  std::int64_t batch;

  Trainer(std::shared_ptr<diffusion::UNet> m, std::int64_t batch)
      : model(std::move(m)), opt(model->parameters(), 2e-4), batch(batch) {
    x0 = Tensor::randn({batch, model->config.channels, model->config.res, model->config.res}, {},
                       &gen);
  }

  // E23: t ~ U{1..T}, ε ~ N(0, I), x_t by E7.
  std::pair<Tensor, Tensor> draw(Tensor* t_out) {
    const Tensor t = Tensor::randint(1, schedule.T + 1, {batch}, {.dtype = kiln::kInt64}, &gen);
    const Tensor eps = Tensor::randn(x0.shape(), {}, &gen);
    *t_out = t;
    return {diffusion::q_sample(schedule, x0, t, eps), eps};
  }

  double step() {
    Tensor t;
    auto [xt, eps] = draw(&t);
    Tensor loss = kiln::mse_loss(model->forward(xt, t), eps);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();
  }
};

// ---- profile: forward, op by op ----------------------------------------------------------

struct OpTimes {
  std::map<std::string, double> seconds;
  std::map<std::string, std::int64_t> calls;
  void add(const std::string& key, double s) {
    seconds[key] += s;
    calls[key] += 1;
  }
};

// Runs fn, adds its time under `family`, returns its result.
template <class Fn>
Tensor timed(OpTimes& times, const std::string& family, Fn&& fn) {
  const auto t0 = Clock::now();
  Tensor out = fn();
  times.add(family, seconds_since(t0));
  return out;
}

std::string conv_family(const nn::Conv2d& c) {
  const auto k = c.kernel_size.h;
  const auto s = c.options.stride.h;
  return fmt::format("conv2d {}x{}{}", k, k, s > 1 ? fmt::format(" stride {}", s) : "");
}

// UNet's ops, written out (diffusion/unet.cpp: ResBlock, AttnBlock, UNet::forward) with a
// timer around each one.
struct ProfiledForward {
  OpTimes& T;

  Tensor conv(nn::Conv2d& c, const Tensor& x) {
    return timed(T, conv_family(c), [&] { return c.forward(x); });
  }
  Tensor gn(nn::GroupNorm& n, const Tensor& x) {
    return timed(T, "group_norm", [&] { return n.forward(x); });
  }
  Tensor silu(const Tensor& x) {
    return timed(T, "silu", [&] { return x.silu(); });
  }
  Tensor add(const Tensor& a, const Tensor& b) {
    return timed(T, "add", [&] { return a + b; });
  }

  Tensor res(diffusion::ResBlock& r, const Tensor& x, const Tensor& temb) {
    const Tensor tt = timed(T, "linear (timestep)", [&] {
      return r.t->forward(temb.silu()).unsqueeze(2).unsqueeze(3);
    });
    Tensor h = add(conv(*r.c1, silu(gn(*r.n1, x))), tt);
    h = silu(gn(*r.n2, h));
    h = timed(T, "dropout", [&] { return r.drop->forward(h); });
    h = conv(*r.c2, h);
    return add(r.skip ? conv(*r.skip, x) : x, h);
  }

  Tensor attn(diffusion::AttnBlock& a, const Tensor& x) {
    const std::int64_t B = x.size(0), C = a.channels, H = x.size(2), W = x.size(3);
    const Tensor qkv = conv(*a.qkv, gn(*a.n, x)).view({B, 3, C, H * W});
    const Tensor q = qkv.select(1, 0).transpose(1, 2);
    const Tensor k = qkv.select(1, 1).transpose(1, 2);
    const Tensor v = qkv.select(1, 2).transpose(1, 2);
    const Tensor h = timed(T, "attention (sdpa)", [&] { return kiln::scaled_dot_product_attention(q, k, v); });
    const Tensor hm = timed(T, "reshape (attention)", [&] { return h.transpose(1, 2).reshape({B, C, H, W}); });
    return add(x, conv(*a.o, hm));
  }

  Tensor block(diffusion::UNetBlock& b, const Tensor& x, const Tensor& temb) {
    const Tensor h = res(*b.res, x, temb);
    return b.attn ? attn(*b.attn, h) : h;
  }

  Tensor forward(diffusion::UNet& net, const Tensor& x, const Tensor& t) {
    const Tensor emb = timed(T, "timestep embedding + MLP", [&] {
      return net.temb->forward(diffusion::timestep_embedding(t.to(x.dtype()), net.config.ch));
    });
    std::vector<Tensor> skips = {conv(*net.inc, x)};
    Tensor h = skips.back();
    for (const auto& m : *net.down) {
      if (auto b = std::dynamic_pointer_cast<diffusion::UNetBlock>(m)) {
        h = block(*b, h, emb);
      } else {
        h = conv(*std::dynamic_pointer_cast<nn::Conv2d>(m), h);
      }
      skips.push_back(h);
    }
    h = res(*net.mid2, attn(*net.mida, res(*net.mid1, h, emb)), emb);
    for (const auto& m : *net.up) {
      if (auto b = std::dynamic_pointer_cast<diffusion::UNetBlock>(m)) {
        const Tensor joined = timed(T, "cat (skip)", [&] { return kiln::cat({h, skips.back()}, 1); });
        skips.pop_back();
        h = block(*b, joined, emb);
      } else {
        auto seq = std::dynamic_pointer_cast<nn::Sequential>(m);
        h = timed(T, "upsample nearest", [&] { return (*seq)[0]->forward(h); });
        h = conv(*seq->at<nn::Conv2d>(1), h);
      }
    }
    h = silu(gn(*net.out->at<nn::GroupNorm>(0), h));
    return conv(*net.out->at<nn::Conv2d>(2), h);
  }
};

// ---- profile: backward, node by node -----------------------------------------------------

// Wraps a node of the graph: the engine calls apply() on the wrapper, which times the
// wrapped node's apply() under "name, output shape".
struct TimingNode final : kiln::autograd::Node {
  std::shared_ptr<kiln::autograd::Node> inner;
  OpTimes* times;
  std::vector<kiln::Tensor> apply(const Tensor& grad_output) override {
    const auto t0 = Clock::now();
    auto out = inner->apply(grad_output);
    times->add(fmt::format("{} {}", inner->name(), kiln::shape_str(grad_output.shape())),
               seconds_since(t0));
    return out;
  }
  std::string name() const override { return inner->name(); }
  void release() override { inner->release(); }
};

// Replaces every FunctionNode reachable from `loss` by a TimingNode (AccumulateGrad sinks
// are left alone: the engine recognises them by type).
void instrument(const Tensor& loss, OpTimes& times) {
  using kiln::autograd::AccumulateGrad;
  using kiln::autograd::Node;
  std::unordered_map<Node*, std::shared_ptr<Node>> wrapped;
  std::function<std::shared_ptr<Node>(const std::shared_ptr<Node>&)> wrap =
      [&](const std::shared_ptr<Node>& node) -> std::shared_ptr<Node> {
    if (!node || dynamic_cast<AccumulateGrad*>(node.get())) return node;
    if (auto it = wrapped.find(node.get()); it != wrapped.end()) return it->second;
    auto w = std::make_shared<TimingNode>();
    w->inner = node;
    w->times = &times;
    wrapped[node.get()] = w;
    w->next_edges = node->next_edges;
    for (auto& e : w->next_edges) e.node = wrap(e.node);
    return w;
  };
  loss.impl()->autograd.grad_fn = wrap(loss.impl()->autograd.grad_fn);
}

struct Profile {
  OpTimes forward, backward;
  double forward_s = 0, loss_s = 0, backward_s = 0, zero_grad_s = 0, adam_s = 0, draw_s = 0;
  int steps = 0;
  bool forward_matches = true;
};

Profile profile_steps(Trainer& tr, int steps) {
  Profile p;
  for (int i = 0; i < steps + 1; ++i) {
    Profile one;
    auto t0 = Clock::now();
    Tensor t;
    auto [xt, eps] = tr.draw(&t);
    one.draw_s = seconds_since(t0);
    t0 = Clock::now();
    ProfiledForward pf{one.forward};
    Tensor eps_hat = pf.forward(*tr.model, xt, t);
    one.forward_s = seconds_since(t0);
    if (i == 0) {
      kiln::NoGradGuard g;
      p.forward_matches = (eps_hat - tr.model->forward(xt, t)).abs().max().item() == 0.0;
    }
    t0 = Clock::now();
    Tensor loss = kiln::mse_loss(eps_hat, eps);
    one.loss_s = seconds_since(t0);
    t0 = Clock::now();
    tr.opt.zero_grad();
    one.zero_grad_s = seconds_since(t0);
    instrument(loss, one.backward);
    t0 = Clock::now();
    loss.backward();
    one.backward_s = seconds_since(t0);
    t0 = Clock::now();
    tr.opt.step();
    one.adam_s = seconds_since(t0);
    if (i == 0) continue;  // the first is a warm-up
    p.steps += 1;
    for (auto [total, now] : {std::make_pair(&p.forward, &one.forward),
                              std::make_pair(&p.backward, &one.backward)})
      for (const auto& [k, s] : now->seconds) {
        total->seconds[k] += s;
        total->calls[k] += now->calls[k];
      }
    p.forward_s += one.forward_s;
    p.loss_s += one.loss_s;
    p.backward_s += one.backward_s;
    p.zero_grad_s += one.zero_grad_s;
    p.adam_s += one.adam_s;
    p.draw_s += one.draw_s;
  }
  return p;
}

// Sorted (descending) rows of an OpTimes as per-step milliseconds.
std::vector<std::pair<std::string, double>> per_step_ms(const OpTimes& t, int steps) {
  std::vector<std::pair<std::string, double>> rows;
  for (const auto& [k, s] : t.seconds) rows.emplace_back(k, s * 1e3 / steps);
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return rows;
}

// Backward keys are "Name [shape]": the family is the name.
std::vector<std::pair<std::string, double>> by_family(const OpTimes& t, int steps) {
  OpTimes fam;
  for (const auto& [k, s] : t.seconds) {
    const std::string name = k.substr(0, k.find(' '));
    fam.seconds[name] += s;
    fam.calls[name] += t.calls.at(k);
  }
  return per_step_ms(fam, steps);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "ddpm-small", json_path = "bench_unet_step.json",
              python = "/usr/bin/python3";
  std::int64_t batch = 32;
  int threads = 2, steps = 20, warmup = 3, rounds = 1, only_steps = 0;
  bool with_torch = true, with_profile = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool v = i + 1 < argc;
    if (a == "--config" && v) config = argv[++i];
    else if (a == "--batch" && v) batch = std::atoll(argv[++i]);
    else if (a == "--threads" && v) threads = std::atoi(argv[++i]);
    else if (a == "--steps" && v) steps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && v) warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--rounds" && v) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--json" && v) json_path = argv[++i];
    else if (a == "--python" && v) python = argv[++i];
    else if (a == "--no-torch") with_torch = false;
    else if (a == "--no-profile") with_profile = false;
    else if (a == "--kiln-only-steps" && v) only_steps = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--config NAME] [--batch B] [--threads N] [--steps N] [--warmup N] [--rounds R] "
                   "[--json PATH] [--python PATH] [--no-torch] [--no-profile] "
                   "[--kiln-only-steps N]\n",
                   argv[0]);
      return 2;
    }
  }

  omp_set_num_threads(threads);
  kiln::manual_seed(0);
  auto model = std::make_shared<diffusion::UNet>(diffusion::unet_config(config), config);
  Trainer trainer(model, batch);
  if (only_steps > 0) {
    for (int i = 0; i < only_steps; ++i) trainer.step();
    return 0;
  }

  const double rss_before = peak_rss_mb();  // the model and its optimizer, no step yet

  // ---- rounds: kiln's steps, then PyTorch's, `rounds` times --------------------------
  std::printf("kiln: %s, batch %lld, %d threads, %lld parameters, float32; %d round(s) of "
              "%d warm-up + %d timed steps per side\n",
              config.c_str(), static_cast<long long>(batch), threads,
              static_cast<long long>(model->num_parameters()), rounds, warmup, steps);
  std::fflush(stdout);
  std::string script = KILN_BENCH_UNET_STEP_SCRIPT;
  if (!file_exists(script)) script = "bench/unet_step/torch_unet_step.py";
  const std::string command = fmt::format(
      "{} {} --json --config {} --batch {} --threads {} --steps {} --warmup {} 2>/dev/null",
      python, script, config, batch, threads, steps, warmup);
  std::string torch_note = "not run (--no-torch)";
  if (with_torch && !(file_exists(python) && file_exists(script))) {
    torch_note = "not found: " + python + " or " + script;
    with_torch = false;
  }
  nlohmann::json rounds_json = nlohmann::json::array();
  nlohmann::json torch;  // the round with PyTorch's lowest median
  std::vector<double> ours;  // the round with our lowest median
  double ours_median = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < warmup; ++i) trainer.step();
    std::vector<double> times;
    for (int i = 0; i < steps; ++i) {
      const auto t0 = Clock::now();
      trainer.step();
      times.push_back(seconds_since(t0));
    }
    const double m = median(times);
    if (ours.empty() || m < ours_median) {
      ours = times;
      ours_median = m;
    }
    nlohmann::json round = {{"round", r}, {"load_average_1min", load_average()},
                            {"kiln_median_s", m}};
    std::printf("  round %d (load %.2f): kiln median %.1f ms", r, load_average(), m * 1e3);
    std::fflush(stdout);
    if (with_torch) {
      // Spinning OpenMP workers go to sleep after a short while; let them first.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      const std::string text = run_capture(command);
      torch_note = text.empty() ? "failed: " + command : "ran " + script;
      try {
        nlohmann::json t = text.empty() ? nlohmann::json() : nlohmann::json::parse(text);
        if (t.is_object() && t.contains("median_s")) {
          round["torch_median_s"] = t["median_s"];
          std::printf(", PyTorch median %.1f ms", t["median_s"].get<double>() * 1e3);
          if (!torch.is_object() || t["median_s"].get<double>() < torch["median_s"].get<double>())
            torch = t;
        }
      } catch (const std::exception& e) {
        torch_note = std::string("unreadable JSON: ") + e.what();
      }
    }
    std::printf("\n");
    rounds_json.push_back(round);
  }
  const double ours_rss = peak_rss_mb();
  const double ours_best = *std::min_element(ours.begin(), ours.end());
  const bool have_torch = torch.is_object() && torch.contains("median_s");

  // ---- table ---------------------------------------------------------------------
  const double load1 = load_average();
  std::printf("\none training step of %s, batch %lld, %d threads (load average now %.2f); "
              "the round with the lowest median of each side\n",
              config.c_str(), static_cast<long long>(batch), threads, load1);
  std::printf("%-10s %12s %12s %10s %14s %16s\n", "", "median ms", "best ms", "params",
              "peak RSS MB", "before steps MB");
  std::printf("%-10s %12.1f %12.1f %10lld %14.0f %16.0f\n", "kiln", ours_median * 1e3,
              ours_best * 1e3, static_cast<long long>(model->num_parameters()), ours_rss,
              rss_before);
  nlohmann::json out = {
      {"benchmark", "unet_step"},
      {"config", config},
      {"batch", batch},
      {"threads", threads},
      {"dtype", "float32"},
      {"step", "q_sample, forward, mse_loss, zero_grad, backward, Adam(lr 2e-4)"},
      {"load_average_1min", load1},
      {"rounds", rounds_json},
      {"kiln", {{"median_s", ours_median}, {"min_s", ours_best}, {"times_s", ours},
                {"params", model->num_parameters()}, {"peak_rss_mb", ours_rss},
                {"rss_before_steps_mb", rss_before}}},
      {"torch_note", torch_note},
  };
  if (have_torch) {
    const double tm = torch["median_s"].get<double>(), tb = torch["min_s"].get<double>();
    std::printf("%-10s %12.1f %12.1f %10lld %14.0f %16.0f\n", "PyTorch", tm * 1e3, tb * 1e3,
                static_cast<long long>(torch["params"].get<std::int64_t>()),
                torch["peak_rss_mb"].get<double>(), torch.value("rss_before_steps_mb", 0.0));
    std::printf("%-10s %12.2f %12.2f\n", "ratio", ours_median / tm, ours_best / tb);
    std::printf("ratio = kiln / PyTorch (target: median ratio <= 1.5); PyTorch %s, mkldnn %s\n",
                torch["torch"].get<std::string>().c_str(),
                torch["mkldnn"].get<bool>() ? "on" : "off");
    out["torch"] = torch;
    out["ratio_median"] = ours_median / tm;
    out["ratio_best"] = ours_best / tb;
  } else {
    std::printf("PyTorch: %s\n", torch_note.c_str());
  }

  // ---- profile -------------------------------------------------------------------
  if (with_profile) {
    const int psteps = std::max(3, steps / 4);
    std::printf("\nprofile of kiln's step (%d steps; per-step milliseconds)\n", psteps);
    std::fflush(stdout);
    const Profile p = profile_steps(trainer, psteps);
    const double n = p.steps;
    const double total = (p.draw_s + p.forward_s + p.loss_s + p.zero_grad_s + p.backward_s + p.adam_s) / n;
    std::printf("  %-28s %9.1f\n  %-28s %9.1f\n  %-28s %9.1f\n  %-28s %9.1f\n  %-28s %9.1f\n"
                "  %-28s %9.1f\n  %-28s %9.1f\n",
                "draw t, ε; q_sample", p.draw_s * 1e3 / n, "forward", p.forward_s * 1e3 / n,
                "mse_loss", p.loss_s * 1e3 / n, "zero_grad", p.zero_grad_s * 1e3 / n,
                "backward", p.backward_s * 1e3 / n, "Adam step", p.adam_s * 1e3 / n,
                "total (profiled)", total * 1e3);
    if (!p.forward_matches) std::printf("  WARNING: the profiled forward differs from UNet::forward\n");

    nlohmann::json prof = {{"steps", p.steps},
                           {"forward_ms", p.forward_s * 1e3 / n},
                           {"backward_ms", p.backward_s * 1e3 / n},
                           {"adam_ms", p.adam_s * 1e3 / n},
                           {"zero_grad_ms", p.zero_grad_s * 1e3 / n},
                           {"loss_ms", p.loss_s * 1e3 / n},
                           {"draw_ms", p.draw_s * 1e3 / n},
                           {"forward_matches_model", p.forward_matches}};
    std::printf("\n  forward by op family%28s %8s\n", "ms", "calls");
    double fsum = 0;
    nlohmann::json fwd = nlohmann::json::array();
    for (const auto& [k, ms] : per_step_ms(p.forward, p.steps)) {
      const auto calls = p.forward.calls.at(k) / p.steps;
      std::printf("    %-42s %8.2f %6lld\n", k.c_str(), ms, static_cast<long long>(calls));
      fsum += ms;
      fwd.push_back({{"op", k}, {"ms", ms}, {"calls", calls}});
    }
    std::printf("    %-42s %8.2f\n", "(views, selects: the rest)", p.forward_s * 1e3 / n - fsum);
    prof["forward"] = fwd;

    std::printf("\n  backward by op family%27s %8s\n", "ms", "calls");
    double bsum = 0;
    nlohmann::json bwd = nlohmann::json::array();
    for (const auto& [k, ms] : by_family(p.backward, p.steps)) {
      std::printf("    %-42s %8.2f\n", k.c_str(), ms);
      bsum += ms;
      bwd.push_back({{"op", k}, {"ms", ms}});
    }
    std::printf("    %-42s %8.2f\n", "(engine: summing gradients, scheduling)",
                p.backward_s * 1e3 / n - bsum);
    prof["backward_by_family"] = bwd;

    std::printf("\n  the 15 slowest backward nodes (op, output shape)    ms  calls\n");
    nlohmann::json nodes = nlohmann::json::array();
    int shown = 0;
    for (const auto& [k, ms] : per_step_ms(p.backward, p.steps)) {
      const auto calls = p.backward.calls.at(k) / p.steps;
      if (shown++ < 15)
        std::printf("    %-46s %8.2f %5lld\n", k.c_str(), ms, static_cast<long long>(calls));
      nodes.push_back({{"node", k}, {"ms", ms}, {"calls", calls}});
    }
    prof["backward_nodes"] = nodes;
    out["kiln_profile"] = prof;
  }

  return kiln::bench::write_json(json_path, out, "bench_unet_step");
}
