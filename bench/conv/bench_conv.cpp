// bench_conv: float32 conv2d forward, and forward + backward (input, weight and bias
// gradients), through the autograd op (kiln::conv2d, y.backward(gy)) on every distinct
// conv layer of ddpm-small (shared/REFERENCE_MODELS.md) at batch 32, beside PyTorch
// (F.conv2d + y.backward(gy)) in the same run.
//
//   bench_conv [--threads N] [--json PATH] [--budget SECONDS] [--quick] [--only I,J,...]
//              [--python PATH] [--torch-json PATH] [--no-torch]
//     --threads N        OpenMP threads for kiln and torch.set_num_threads (default 2)
//     --json PATH        where the results go (default: bench_conv.json here)
//     --budget SECONDS   time spent on each measurement (default 0.5)
//     --quick            only the first six shapes, batch 8
//     --only I,J,...     only these rows of the table (0-based)
//     --python PATH      the interpreter that runs torch_conv.py (default /usr/bin/python3)
//     --torch-json PATH  read PyTorch's results from this file (torch_conv.py --json
//                        output) instead of running the script
//     --no-torch         kiln only
//
// PyTorch's side is bench/conv/torch_conv.py, given this program's shape table on its
// command line so the two cannot drift. Each measurement is one warm-up call and then
// timed calls (about `budget` seconds, at least 5); the table shows the best, the least
// disturbed by whatever else the machine runs, and the JSON holds the median too. The
// last row weights every layer by how often one U-Net forward uses it: the conv time of
// one training step.
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/ops/conv.h"
#include "bench/common.h"
#include "kiln.h"

#ifndef KILN_BENCH_CONV_SCRIPT
#define KILN_BENCH_CONV_SCRIPT "bench/conv/torch_conv.py"
#endif

namespace {

using kiln::bench::file_exists;
using kiln::bench::run_capture;
using kiln::bench::Timing;
using kiln::bench::time_calls;
using kiln::Shape;
using kiln::Tensor;

struct Layer {
  const char* role;  // where ddpm-small uses it
  std::int64_t C_in, H, C_out, K, stride, pad;
  int uses;  // how many times one U-Net forward runs this shape
};

// Every distinct conv of ddpm-small (32x32 images, ch 32, mults (1, 2, 2)), in the order
// of the forward pass; `uses` counted with forward hooks on shared/anchors/torch_unet.py.
const std::vector<Layer> kLayers = {
    {"input conv", 3, 32, 32, 3, 1, 1, 1},
    {"res 32 @32", 32, 32, 32, 3, 1, 1, 4},
    {"down @32", 32, 32, 32, 3, 2, 1, 1},
    {"res 32->64 @16", 32, 16, 64, 3, 1, 1, 1},
    {"res 64 @16", 64, 16, 64, 3, 1, 1, 4},
    {"skip 32->64 @16", 32, 16, 64, 1, 1, 0, 1},
    {"down @16", 64, 16, 64, 3, 2, 1, 1},
    {"res 64 @8", 64, 8, 64, 3, 1, 1, 8},
    {"attn qkv @8", 64, 8, 192, 1, 1, 0, 4},
    {"attn proj @8", 64, 8, 64, 1, 1, 0, 4},
    {"res 128->64 @8", 128, 8, 64, 3, 1, 1, 2},
    {"skip 128->64 @8", 128, 8, 64, 1, 1, 0, 2},
    {"res 128->64 @16", 128, 16, 64, 3, 1, 1, 1},
    {"skip 128->64 @16", 128, 16, 64, 1, 1, 0, 1},
    {"res 96->64 @16", 96, 16, 64, 3, 1, 1, 1},
    {"skip 96->64 @16", 96, 16, 64, 1, 1, 0, 1},
    {"up conv @32", 64, 32, 64, 3, 1, 1, 1},
    {"res 96->32 @32", 96, 32, 32, 3, 1, 1, 1},
    {"skip 96->32 @32", 96, 32, 32, 1, 1, 0, 1},
    {"res 64->32 @32", 64, 32, 32, 3, 1, 1, 1},
    {"skip 64->32 @32", 64, 32, 32, 1, 1, 0, 1},
    {"output conv", 32, 32, 3, 3, 1, 1, 1},
};

// "N,C_in,H,W,C_out,KH,KW,stride,padding", the format torch_conv.py reads.
std::string spec_of(const Layer& l, std::int64_t batch) {
  std::ostringstream s;
  s << batch << ',' << l.C_in << ',' << l.H << ',' << l.H << ',' << l.C_out << ',' << l.K << ','
    << l.K << ',' << l.stride << ',' << l.pad;
  return s.str();
}

std::string label_of(const Layer& l) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld->%lld %lldx%lld s%lld @%lld", static_cast<long long>(l.C_in),
                static_cast<long long>(l.C_out), static_cast<long long>(l.K),
                static_cast<long long>(l.K), static_cast<long long>(l.stride),
                static_cast<long long>(l.H));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  double budget = 0.5;
  bool quick = false, with_torch = true;
  std::string json_path = "bench_conv.json", python = "/usr/bin/python3", torch_json, only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
    else if (a == "--json" && has_value) json_path = argv[++i];
    else if (a == "--budget" && has_value) budget = std::atof(argv[++i]);
    else if (a == "--python" && has_value) python = argv[++i];
    else if (a == "--torch-json" && has_value) torch_json = argv[++i];
    else if (a == "--only" && has_value) only = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--no-torch") with_torch = false;
    else {
      std::fprintf(stderr,
                   "usage: %s [--threads N] [--json PATH] [--budget SECONDS] [--quick] "
                   "[--only I,J,...] [--python PATH] [--torch-json PATH] [--no-torch]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::int64_t batch = quick ? 8 : 32;
  std::vector<Layer> layers =
      quick ? std::vector<Layer>(kLayers.begin(), kLayers.begin() + 6) : kLayers;
  if (!only.empty()) {
    std::vector<Layer> picked;
    std::stringstream list(only);
    for (std::string item; std::getline(list, item, ',');) {
      const int i = std::atoi(item.c_str());
      if (i < 0 || i >= static_cast<int>(layers.size())) {
        std::fprintf(stderr, "bench_conv: --only %d is not a row of the table (0..%zu)\n", i,
                     layers.size() - 1);
        return 2;
      }
      picked.push_back(layers[i]);
    }
    layers = picked;
  }

  // ---- kiln ----------------------------------------------------------------------
  omp_set_num_threads(threads);
  std::printf("kiln conv2d, float32, batch %lld, %d threads", static_cast<long long>(batch),
              threads);
  std::fflush(stdout);
  std::vector<Timing> ours_fwd, ours_total;
  kiln::Generator gen(0);
  for (const Layer& l : layers) {
    const std::array<std::int64_t, 2> stride = {l.stride, l.stride}, pad = {l.pad, l.pad};
    Tensor x = Tensor::randn({batch, l.C_in, l.H, l.H}, {}, &gen).requires_grad_();
    Tensor w = (Tensor::randn({l.C_out, l.C_in, l.K, l.K}, {}, &gen) /
                std::sqrt(static_cast<double>(l.C_in * l.K * l.K)))
                   .requires_grad_();
    Tensor b = Tensor::randn({l.C_out}, {}, &gen).requires_grad_();
    Tensor gy;
    {
      kiln::NoGradGuard no_grad;
      gy = Tensor::randn(kiln::conv2d(x, w, b, stride, pad).shape(), {}, &gen);
    }
    ours_fwd.push_back(time_calls([&] { (void)kiln::conv2d(x, w, b, stride, pad); }, budget));
    ours_total.push_back(time_calls(
        [&] {
          x.set_grad(Tensor());
          w.set_grad(Tensor());
          b.set_grad(Tensor());
          kiln::conv2d(x, w, b, stride, pad).backward(gy);
        },
        budget));
    std::printf(".");
    std::fflush(stdout);
  }
  std::printf("\n");
  // Spinning OpenMP workers go to sleep after a short while; let them before torch runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // ---- PyTorch -------------------------------------------------------------------
  nlohmann::json torch;
  std::string torch_note = "not run (--no-torch)";
  if (with_torch) {
    std::string text;
    if (!torch_json.empty()) {
      std::ifstream f(torch_json);
      std::stringstream ss;
      ss << f.rdbuf();
      text = ss.str();
      torch_note = "read from " + torch_json;
    } else {
      std::string script = KILN_BENCH_CONV_SCRIPT;
      if (!file_exists(script)) script = "bench/conv/torch_conv.py";
      std::string specs;
      for (const Layer& l : layers) specs += (specs.empty() ? "" : ";") + spec_of(l, batch);
      const std::string command = python + " " + script + " --json --threads " +
                                  std::to_string(threads) + " --budget " + std::to_string(budget) +
                                  " --shapes '" + specs + "' 2>/dev/null";
      if (file_exists(python) && file_exists(script)) {
        std::printf("running %s ...\n", script.c_str());
        std::fflush(stdout);
        text = run_capture(command);
        torch_note = text.empty() ? "failed: " + command : "ran " + script;
      } else {
        torch_note = "not found: " + python + " or " + script;
      }
    }
    if (!text.empty()) {
      try {
        torch = nlohmann::json::parse(text);
      } catch (const std::exception& e) {
        torch_note = std::string("unreadable JSON: ") + e.what();
        torch = nullptr;
      }
    }
  }
  const bool have_torch = torch.is_object() && torch.contains("results") &&
                          torch["results"].size() == layers.size();
  if (have_torch) {
    std::printf("PyTorch %s, %d threads, mkldnn %s\n", torch["torch"].get<std::string>().c_str(),
                torch["threads"].get<int>(), torch["mkldnn"].get<bool>() ? "on" : "off");
  } else {
    std::printf("PyTorch: %s\n", torch_note.c_str());
  }

  // ---- table ---------------------------------------------------------------------
  std::printf("\n%-18s %-23s %4s %9s %9s %10s %10s %6s\n", "layer", "shape", "uses", "fwd ms",
              "torch", "fwd+bwd ms", "torch", "ratio");
  nlohmann::json rows = nlohmann::json::array();
  double sum_ours = 0, sum_torch = 0, worst_ratio = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    nlohmann::json row = {
        {"layer", l.role},
        {"shape", spec_of(l, batch)},
        {"uses", l.uses},
        {"kiln", {{"forward_ms_best", ours_fwd[i].best_s * 1e3},
                  {"forward_ms_median", ours_fwd[i].median_s * 1e3},
                  {"total_ms_best", ours_total[i].best_s * 1e3},
                  {"total_ms_median", ours_total[i].median_s * 1e3},
                  {"reps", ours_total[i].reps}}},
    };
    sum_ours += l.uses * ours_total[i].best_s * 1e3;
    if (have_torch) {
      const nlohmann::json& t = torch["results"][i];
      const double tf = t["forward_ms_best"].get<double>(), tt = t["total_ms_best"].get<double>();
      const double ratio = ours_total[i].best_s * 1e3 / tt;
      worst_ratio = std::max(worst_ratio, ratio);
      sum_torch += l.uses * tt;
      row["torch"] = t;
      row["ratio_total"] = ratio;
      row["ratio_forward"] = ours_fwd[i].best_s * 1e3 / tf;
      std::printf("%-18s %-23s %4d %9.3f %9.3f %10.3f %10.3f %6.2f\n", l.role, label_of(l).c_str(),
                  l.uses, ours_fwd[i].best_s * 1e3, tf, ours_total[i].best_s * 1e3, tt, ratio);
    } else {
      std::printf("%-18s %-23s %4d %9.3f %9s %10.3f %10s %6s\n", l.role, label_of(l).c_str(),
                  l.uses, ours_fwd[i].best_s * 1e3, "-", ours_total[i].best_s * 1e3, "-", "-");
    }
    rows.push_back(row);
  }
  if (have_torch) {
    std::printf("%-18s %-23s %4s %9s %9s %10.3f %10.3f %6.2f\n", "one U-Net step", "Σ uses x time",
                "", "", "", sum_ours, sum_torch, sum_ours / sum_torch);
    std::printf("\nratio = kiln / PyTorch forward+backward time (best of each); worst layer %.2f\n",
                worst_ratio);
  } else {
    std::printf("%-18s %-23s %4s %9s %9s %10.3f\n", "one U-Net step", "Σ uses x time", "", "", "",
                sum_ours);
  }

  nlohmann::json out = {
      {"benchmark", "conv2d"},
      {"model", "ddpm-small"},
      {"dtype", "float32"},
      {"batch", batch},
      {"threads", threads},
      {"measured", "forward (graph recorded) and forward + backward (input, weight, bias grads)"},
      {"torch_note", torch_note},
      {"results", rows},
      {"step_total_ms", {{"kiln", sum_ours}}},
  };
  if (have_torch) {
    out["step_total_ms"]["torch"] = sum_torch;
    out["worst_ratio_total"] = worst_ratio;
  }
  return kiln::bench::write_json(json_path, out, "bench_conv");
}
