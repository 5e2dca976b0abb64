// kiln info: version, build options and the devices this binary can use.
#include <omp.h>

#include <cstdio>

#include "program/commands.h"
#include "program/common.h"
#include "tensor/backend.h"

namespace kiln::program {

void add_info_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "info", "Print kiln's version, how it was built, and the devices it can use.");
  auto device = std::make_shared<std::string>("cpu");
  add_device_option(cmd, *device);
  cmd->callback([device] {
    std::printf("kiln %s\n", KILN_VERSION);
#ifdef NDEBUG
    std::printf("build: release (-O3%s)\n", KILN_NATIVE_FLAG);
#else
    std::printf("build: debug\n");
#endif
    std::printf("cpu threads (OpenMP): %d\n", omp_get_max_threads());
    std::printf("cuda backend compiled: %s\n", cuda::built_with_cuda() ? "yes" : "no");
    const int n = cuda::device_count();
    std::printf("cuda devices: %d\n", n);
    for (int i = 0; i < n; ++i) std::printf("  cuda:%d  %s\n", i, cuda::device_name(i).c_str());
    if (cuda::built_with_cuda() && n == 0)
      std::printf("  (no usable GPU or driver found: --device cuda is unavailable here)\n");
    (void)parse_device(*device);  // --device cuda where there is none: say why
  });
}

}  // namespace kiln::program
