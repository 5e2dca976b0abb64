#pragma once
// The subcommands of the kiln program. Each add_*_command registers its options and a
// callback on the app; the callback's exit status is reported through exit_code().
// One file per subcommand (program/<name>.cpp); what they share is in program/common.h.
#include <CLI/CLI.hpp>

namespace kiln::program {

void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_interpolate_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_schedule_command(CLI::App& app);
void add_verify_command(CLI::App& app);
void add_info_command(CLI::App& app);

// The status the chosen subcommand asked to exit with (0 unless it failed).
int exit_code();
void set_exit_code(int code);

}  // namespace kiln::program
