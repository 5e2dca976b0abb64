// kiln: the command-line program. One executable, CLI11 subcommands; every subcommand
// has --help that explains its options, and --device cpu|cuda.
//   kiln train        train a diffusion model, write a run folder
//   kiln sample       samples, a denoising trajectory, a steps study from a checkpoint
//   kiln interpolate  spherical interpolation between noises (E32)
//   kiln eval         bits/dim (E21) and sample quality (E34-E36)
//   kiln schedule     signal and noise rates of the schedules (E1-E3b)
//   kiln verify       run the numeric verifications V1..V22 of EQUATIONS.md
//   kiln info         version, build options, devices
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "program/commands.h"
#include "tensor/error.h"

namespace {

// Note [OpenMP wait policy] (CMakeLists.txt): libgomp reads its settings when it loads,
// before main(), so unless the user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT), kiln runs
// itself again with a short spin: as fast as the default on an idle machine, ~10x faster
// than it on a busy one.
void use_short_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv("/proc/self/exe", argv);  // returns only if it failed: then go on as we are
}

}  // namespace

int main(int argc, char** argv) {
  use_short_openmp_spin(argv);
  CLI::App app{"kiln: a from-scratch deep-learning framework that teaches diffusion models"};
  app.require_subcommand(1);
  kiln::program::add_train_command(app);
  kiln::program::add_sample_command(app);
  kiln::program::add_interpolate_command(app);
  kiln::program::add_eval_command(app);
  kiln::program::add_schedule_command(app);
  kiln::program::add_verify_command(app);
  kiln::program::add_info_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // a filesystem or JSON library error: still no crash
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return 2;
  }
  return kiln::program::exit_code();
}
