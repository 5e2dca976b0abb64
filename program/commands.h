#pragma once
// The subcommands of the kiln program. Each add_*_command registers its options and a
// callback on the app; the callback's exit status is reported through exit_code().
#include <CLI/CLI.hpp>

namespace kiln::program {

void add_verify_command(CLI::App& app);
void add_info_command(CLI::App& app);

// The status the chosen subcommand asked to exit with (0 unless it failed).
int exit_code();
void set_exit_code(int code);

}  // namespace kiln::program
