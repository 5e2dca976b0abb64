// `kiln train` through the real executable, on tiny configs (seconds): the run folder it
// writes, the config's JSON round trip, exact resume, Ctrl-C, and clear errors for bad input.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "nn/checkpoint.h"
#include "program/run_kiln.h"

using kiln_test::run_kiln;
using kiln_test::read_file;
using kiln_test::TempDir;
using kiln_test::write_file;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A U-Net small enough for a test: ddpm-tiny (16×16, two levels, attention at 8) with
// dropout switched on, so that its random masks must resume exactly too.
const std::string kTiny =
    "--model ddpm-tiny --arch '{\"dropout\": 0.1}' --dataset shapes --data-size 20 "
    "--batch-size 8 --timesteps 20 --warmup 2 --lr 1e-3 --ema-decay 0.9 --log-every 1 "
    "--sample-every 0 --checkpoint-every 0 --preview-samples 4 --preview-steps 3";

// Every tensor of two checkpoints (model, optimizer, EMA) and their steps, bit for bit.
void check_same_checkpoint(const fs::path& a, const fs::path& b) {
  const kiln::nn::SafetensorsFile fa = kiln::nn::load_safetensors(a);
  const kiln::nn::SafetensorsFile fb = kiln::nn::load_safetensors(b);
  REQUIRE(fa.tensors.size() == fb.tensors.size());
  CHECK(fa.metadata.at("kiln.step") == fb.metadata.at("kiln.step"));
  CHECK(fa.metadata.at("kiln.rng_offset") == fb.metadata.at("kiln.rng_offset"));
  CHECK(fa.metadata.at("run.loader_epoch") == fb.metadata.at("run.loader_epoch"));
  CHECK(fa.metadata.at("run.loader_position") == fb.metadata.at("run.loader_position"));
  int different = 0;
  for (const auto& [name, ta] : fa.tensors) {
    const kiln::Tensor& tb = fb.tensors.at(name);
    REQUIRE(ta.shape() == tb.shape());
    const auto va = ta.to_vector<double>(), vb = tb.to_vector<double>();
    if (va != vb) {
      ++different;
      MESSAGE("differs: " << name);
    }
  }
  CHECK(different == 0);
}

}  // namespace

TEST_CASE("kiln train writes a run folder: config, metrics, loss curve, previews, checkpoint") {
  TempDir tmp("train");
  const auto r = run_kiln("train " + kTiny + " --steps 4 --sample-every 2 --out " + tmp / "run");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.has("done: 4 steps"));
  const fs::path run = tmp.path / "run";
  for (const char* f : {"config.json", "metrics.jsonl", "loss.png", "checkpoint.safetensors",
                        "previews/step_000002.png", "previews/step_000004.png"})
    CHECK_MESSAGE(fs::exists(run / f), f);
  // One JSON line per logged step, with the loss and the rate.
  std::istringstream lines(read_file(run / "metrics.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);
    CHECK(j.at("step") == ++n);
    CHECK(j.at("loss").get<double>() > 0);
    CHECK(j.contains("steps_per_s"));
    CHECK(j.contains("lr"));
  }
  CHECK(n == 4);
  // The checkpoint holds model, optimizer, EMA, step and RNG state.
  const auto f = kiln::nn::load_safetensors(run / "checkpoint.safetensors");
  CHECK(f.metadata.at("kiln.step") == "4");
  CHECK(f.tensors.count("model.inc.weight") == 1);
  CHECK(f.tensors.count("ema.shadow.inc.weight") == 1);
  CHECK(f.tensors.count("optim.exp_avg.0") == 1);
  CHECK(f.metadata.count("kiln.rng_seed") == 1);
  // Starting again in the same folder is refused unless asked for.
  const auto again = run_kiln("train " + kTiny + " --steps 1 --out " + tmp / "run");
  CHECK(again.status != 0);
  CHECK(again.has("already holds a run"));
  CHECK(run_kiln("train " + kTiny + " --steps 1 --overwrite --out " + tmp / "run").status == 0);
}

TEST_CASE("kiln train --steps 0 saves the untrained model, whatever the learning-rate schedule") {
  // The baseline of `kiln eval` (an untrained model must score worse than a trained one);
  // the main job's config has a cosine schedule with 100 warm-up steps.
  TempDir tmp("untrained");
  const auto r = run_kiln("train " + kTiny + " --lr-schedule cosine --warmup 100 --steps 0 --out " +
                          tmp / "run");
  INFO(r.out);
  REQUIRE(r.status == 0);
  const auto f = kiln::nn::load_safetensors(tmp.path / "run" / "checkpoint.safetensors");
  CHECK(f.metadata.at("kiln.step") == "0");
  // Steps > 0 still need the warm-up to end before the cosine decay does.
  const auto bad = run_kiln("train " + kTiny + " --lr-schedule cosine --warmup 100 --steps 50 --out " +
                            tmp / "bad");
  CHECK(bad.status != 0);
  CHECK(bad.has("needs \"steps\" (50) > \"warmup\" (100)"));
}

TEST_CASE("kiln train: the config round-trips through JSON (file, run folder, checkpoint)") {
  TempDir tmp("config");
  const auto printed = run_kiln("train " + kTiny + " --steps 3 --print-config");
  REQUIRE(printed.status == 0);
  const json config = json::parse(printed.out);
  CHECK(config.at("model") == "ddpm-tiny");
  CHECK(config.at("arch").at("dropout") == 0.1);
  CHECK(config.at("arch").at("ch") == 8);  // the named architecture, resolved in full
  CHECK(config.at("steps") == 3);
  // The printed config as a file gives the same config back.
  write_file(tmp.path / "c.json", printed.out);
  const auto reread = run_kiln("train --config " + tmp / "c.json" + " --print-config");
  REQUIRE(reread.status == 0);
  CHECK(json::parse(reread.out) == config);
  // Options on the command line override the file.
  const auto overridden = run_kiln("train --config " + tmp / "c.json" + " --lr 0.5 --print-config");
  CHECK(json::parse(overridden.out).at("lr") == 0.5);
  // A partial file starts from the model's defaults.
  write_file(tmp.path / "partial.json", R"({"model": "mlp-2d", "dataset": "gaussians8"})");
  const json partial = json::parse(run_kiln("train --config " + tmp / "partial.json" + " --print-config").out);
  CHECK(partial.at("model") == "mlp-2d");
  CHECK(partial.at("arch").at("hidden") == 128);
  // Training saves exactly this config in the run folder and in the checkpoint.
  REQUIRE(run_kiln("train --config " + tmp / "c.json" + " --out " + tmp / "run").status == 0);
  CHECK(json::parse(read_file(tmp.path / "run" / "config.json")) == config);
  const auto ckpt = kiln::nn::load_safetensors(tmp.path / "run" / "checkpoint.safetensors");
  CHECK(json::parse(ckpt.metadata.at("run.config")) == config);
}

TEST_CASE("kiln train --resume: N + M steps straight and N then M resumed give identical weights") {
  TempDir tmp("resume");
  // 20 items in batches of 8 (the last dropped): 2 batches an epoch, so 7 steps cross
  // three epoch boundaries and the resume point (step 3) sits inside an epoch.
  REQUIRE(run_kiln("train " + kTiny + " --steps 7 --out " + tmp / "straight").status == 0);
  REQUIRE(run_kiln("train " + kTiny + " --steps 3 --out " + tmp / "resumed").status == 0);
  const auto r = run_kiln("train --resume " + tmp / "resumed" + " --steps 7");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.has("resuming at step 3"));
  check_same_checkpoint(tmp.path / "straight" / "checkpoint.safetensors",
                        tmp.path / "resumed" / "checkpoint.safetensors");
  // The metrics continue: steps 1..7 once each.
  std::istringstream lines(read_file(tmp.path / "resumed" / "metrics.jsonl"));
  std::string line;
  std::vector<int> steps;
  while (std::getline(lines, line)) steps.push_back(json::parse(line).at("step").get<int>());
  CHECK(steps == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
  // What is trained cannot change on resume.
  const auto changed = run_kiln("train --resume " + tmp / "resumed" + " --steps 9 --lr 0.1");
  CHECK(changed.status != 0);
  CHECK(changed.has("'lr' cannot change"));
}

TEST_CASE("kiln train: Ctrl-C (SIGINT) saves a checkpoint and exits cleanly") {
  TempDir tmp("sigint");
  const fs::path run = tmp.path / "run";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string cmd = "OMP_NUM_THREADS=1 exec " + std::string(KILN_EXE) + " train " + kTiny +
                            " --steps 1000000 --out " + run.string() + " > " +
                            (tmp.path / "log.txt").string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training runs (a metrics line is written after each step).
  for (int i = 0; i < 6000 && read_file(run / "metrics.jsonl").find('\n') == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  const std::string log = read_file(tmp.path / "log.txt");
  INFO(log);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(log.find("interrupted at step") != std::string::npos);
  // The checkpoint is whole and loads; the run resumes from it.
  const auto f = kiln::nn::load_safetensors(run / "checkpoint.safetensors");
  const int step = std::stoi(f.metadata.at("kiln.step"));
  CHECK(step >= 1);
  const auto resumed = run_kiln("train --resume " + run.string() + " --steps " + std::to_string(step + 2));
  INFO(resumed.out);
  CHECK(resumed.status == 0);
}

TEST_CASE("kiln train: bad input is a clear error, never a crash") {
  TempDir tmp("bad");
  struct Case {
    std::string args, expect;
  };
  write_file(tmp.path / "broken.json", "{\"model\": \"ddpm-tiny\", ");
  write_file(tmp.path / "unknown.json", R"({"model": "ddpm-tiny", "learning_rate": 0.1})");
  write_file(tmp.path / "type.json", R"({"model": "ddpm-tiny", "steps": "many"})");
  write_file(tmp.path / "arch.json", R"({"model": "ddpm-tiny", "arch": {"width": 3}})");
  const std::vector<Case> cases = {
      {"train --model ddpm-huge --print-config", "unknown model 'ddpm-huge'"},
      {"train --config " + tmp / "missing.json", "missing.json': no such file"},
      {"train --config " + tmp / "broken.json", "broken.json' is not valid JSON"},
      {"train --config " + tmp / "unknown.json", "unknown key \"learning_rate\""},
      {"train --config " + tmp / "type.json", "\"steps\" must be an integer"},
      {"train --config " + tmp / "arch.json", "unknown key \"width\""},
      {"train --model mlp-2d --dataset shapes --print-config", "learns 2-D points"},
      {"train --model ddpm-tiny --dataset moons --print-config", "learns images"},
      {"train --dataset mnist --print-config", "--data-path"},
      {"train --lr -1 --print-config", "\"lr\" must be > 0"},
      {"train --arch '{oops' --print-config", "--arch: not valid JSON"},
      {"train --resume " + tmp / "nothing", "no such file or folder"},
      {"train --no-such-option", "--no-such-option"},
  };
  for (const Case& c : cases) {
    const auto r = run_kiln(c.args);
    INFO(c.args << "\n" << r.out);
    CHECK(r.status != 0);
    CHECK(r.status != -1);  // not killed by a signal
    CHECK(r.has(c.expect));
  }
}
