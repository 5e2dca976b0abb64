// kiln schedule: the noise schedules side by side. x_t = signal · x_0 + noise · ε with
// signal² + noise² = 1 (E7: signal = √ᾱ_t, noise = √(1-ᾱ_t)), for
//   linear         E1, Ho et al.: β from 1e-4 to 0.02 over T steps
//   cosine         E3, Improved DDPM: ᾱ_t = f(t)/f(0)
//   cosine (cont.) E3a: signal cos(τπ/2), noise sin(τπ/2)
//   offset cosine  E3b, the Keras chapter: the angle from acos(0.95) to acos(0.02)
// against τ = t/T. Prints a table and writes a PNG with three panels: the signal rates,
// the noise rates and log SNR (E8).
//
//   kiln schedule --out runs/schedules.png
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "data/plot.h"
#include "program/commands.h"
#include "program/common.h"
#include "tensor/error.h"

namespace kiln::program {
namespace {

struct ScheduleArgs {
  std::int64_t T = 1000;
  std::int64_t rows = 11;
  std::string out = "runs/schedules.png";
  bool json = false;
  std::string device = "cpu";
};

struct Curve {
  std::string name;
  std::vector<double> tau{}, signal{}, noise{};
};

std::vector<Curve> curves(std::int64_t T) {
  std::vector<Curve> out;
  for (const auto& [name, s] : {std::pair{std::string("linear (E1)"), diffusion::Schedule::linear(T)},
                                std::pair{std::string("cosine (E3)"), diffusion::Schedule::cosine(T)}}) {
    Curve c{.name = name};
    for (std::int64_t t = 0; t <= T; ++t) {  // t = 0: the data, ᾱ_0 = 1
      c.tau.push_back(static_cast<double>(t) / static_cast<double>(T));
      c.signal.push_back(std::sqrt(s.alpha_bar[t]));
      c.noise.push_back(std::sqrt(s.one_minus_alpha_bar[t]));
    }
    out.push_back(c);
  }
  Curve plain{.name = "cosine, continuous (E3a)"}, offset{.name = "offset cosine (E3b)"};
  for (std::int64_t k = 0; k <= T; ++k) {
    const double tau = static_cast<double>(k) / static_cast<double>(T);
    const auto [s1, n1] = diffusion::cosine_rates(tau);
    const auto [s2, n2] = diffusion::offset_cosine_rates(tau);
    plain.tau.push_back(tau), plain.signal.push_back(s1), plain.noise.push_back(n1);
    offset.tau.push_back(tau), offset.signal.push_back(s2), offset.noise.push_back(n2);
  }
  out.push_back(plain);
  out.push_back(offset);
  return out;
}

void run_schedule(const ScheduleArgs& a) {
  (void)parse_device(a.device);  // the tables are float64 on the CPU (Note [Schedule tables ...])
  KILN_CHECK(a.T >= 2, "schedule: --timesteps must be >= 2, got {}", a.T);
  KILN_CHECK(a.rows >= 2, "schedule: --rows must be >= 2, got {}", a.rows);
  const std::vector<Curve> cs = curves(a.T);
  std::vector<std::int64_t> at;  // the table's rows: evenly spaced indices 0..T
  for (std::int64_t r = 0; r < a.rows; ++r) at.push_back(r * a.T / (a.rows - 1));

  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const Curve& c : cs) {
      nlohmann::json rows = nlohmann::json::array();
      for (const std::int64_t i : at)
        rows.push_back({{"tau", c.tau[i]}, {"signal", c.signal[i]}, {"noise", c.noise[i]}});
      j.push_back({{"schedule", c.name}, {"rows", rows}});
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("signal rate sqrt(abar) / noise rate sqrt(1 - abar) at tau = t/T (T = %lld)\n\n%6s",
                static_cast<long long>(a.T), "tau");
    for (const Curve& c : cs) std::printf("  %26s", c.name.c_str());
    std::printf("\n");
    for (const std::int64_t i : at) {
      std::printf("%6.2f", cs[0].tau[i]);
      for (const Curve& c : cs) std::printf("  %12.5f / %11.5f", c.signal[i], c.noise[i]);
      std::printf("\n");
    }
  }

  std::vector<data::Series> signal, noise, log_snr;
  for (const Curve& c : cs) {
    signal.push_back({.name = c.name, .x = c.tau, .y = c.signal});
    noise.push_back({.name = c.name, .x = c.tau, .y = c.noise});
    data::Series l{.name = c.name, .x = c.tau};
    for (size_t i = 0; i < c.tau.size(); ++i)  // E8: log SNR = log(signal² / noise²)
      l.y.push_back(2 * std::log(c.signal[i]) - 2 * std::log(c.noise[i]));
    log_snr.push_back(l);
  }
  const data::LinePlotOptions base{.xlabel = "tau = t / T", .width = 480, .height = 400};
  auto with = [&](const char* title, const char* ylabel) {
    data::LinePlotOptions o = base;
    o.title = title;
    o.ylabel = ylabel;
    return o;
  };
  data::LinePlotOptions snr_options = with("log SNR = log(abar / (1 - abar)) (E8)", "log SNR");
  snr_options.ymin = -12;
  snr_options.ymax = 12;
  const Tensor panels = cat({data::line_plot(signal, with("signal rate sqrt(abar)", "signal")).to_tensor(),
                             data::line_plot(noise, with("noise rate sqrt(1 - abar)", "noise")).to_tensor(),
                             data::line_plot(log_snr, snr_options).to_tensor()},
                            2);
  const fs::path out(a.out);
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  data::save_png(out, panels);
  if (!a.json) std::printf("\nwrote %s\n", out.string().c_str());
}

}  // namespace

void add_schedule_command(CLI::App& app) {
  auto a = std::make_shared<ScheduleArgs>();
  CLI::App* cmd = app.add_subcommand(
      "schedule",
      "Print and plot the signal rate sqrt(abar) and noise rate sqrt(1 - abar) of the noise "
      "schedules side by side: linear (E1), cosine (E3), continuous cosine (E3a), offset "
      "cosine (E3b), with log SNR (E8).");
  cmd->add_option("--timesteps", a->T, "T of the discrete schedules")->capture_default_str();
  cmd->add_option("--rows", a->rows, "Rows of the printed table")->capture_default_str();
  cmd->add_option("--out", a->out, "The PNG to write")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the table as JSON");
  add_device_option(cmd, a->device);
  cmd->callback([a] { run_schedule(*a); });
}

}  // namespace kiln::program
