// kiln: the command-line program. One executable, CLI11 subcommands; every subcommand
// has --help that explains its options.
//   kiln verify   run the numeric verifications V1..V22 of EQUATIONS.md
//   kiln info     version, build options, devices
#include <CLI/CLI.hpp>

#include <cstdio>

#include "program/commands.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: a from-scratch deep-learning framework that teaches diffusion models"};
  app.require_subcommand(1);
  kiln::program::add_verify_command(app);
  kiln::program::add_info_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return 2;
  }
  return kiln::program::exit_code();
}
