// The happy path of every subcommand through the real executable, on tiny runs (seconds),
// their --help, --device, and clear errors for missing or damaged checkpoints.
#include <doctest/doctest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "nn/checkpoint.h"
#include "program/run_kiln.h"
#include "tensor/backend.h"

using kiln_test::run_kiln;
using kiln_test::read_file;
using kiln_test::TempDir;
using kiln_test::write_file;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kTinyImages =
    "--model ddpm-tiny --dataset shapes --data-size 32 --batch-size 8 --timesteps 20 "
    "--warmup 1 --lr 1e-3 --log-every 1 --sample-every 0 --preview-samples 4 --preview-steps 3";

// A PNG's width and height (from its IHDR chunk).
std::pair<int, int> png_size(const fs::path& p) {
  const std::string b = read_file(p);
  REQUIRE(b.size() > 24);
  REQUIRE(b.substr(1, 3) == "PNG");
  auto be = [&](size_t i) {
    return (static_cast<unsigned char>(b[i]) << 24) | (static_cast<unsigned char>(b[i + 1]) << 16) |
           (static_cast<unsigned char>(b[i + 2]) << 8) | static_cast<unsigned char>(b[i + 3]);
  };
  return {static_cast<int>(be(16)), static_cast<int>(be(20))};
}

}  // namespace

TEST_CASE("every subcommand explains its options with --help and takes --device") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"train", {"--config", "--resume", "--steps", "--lr", "--arch", "--ema-decay", "--out"}},
      {"sample", {"--sampler", "--sigma", "--eta", "--steps", "--trajectory", "--steps-study"}},
      {"interpolate", {"--pairs", "--frames", "--steps"}},
      {"eval", {"--bpd-images", "--samples", "--cache", "--classifier-steps"}},
      {"schedule", {"--timesteps", "--out", "--json"}},
      {"verify", {"--only", "--json"}},
      {"info", {}}};
  for (const auto& [name, options] : expected) {
    const auto r = run_kiln(name + " --help");
    INFO(name << "\n" << r.out);
    CHECK(r.status == 0);
    CHECK(r.has("--device"));
    for (const auto& o : options) CHECK(r.has(o));
  }
}

TEST_CASE("--device cuda on a machine without a GPU is a clear error") {
  if (kiln::cuda::is_available()) return;  // a GPU machine: nothing to refuse
  for (const std::string cmd : {"info --device cuda", "schedule --device cuda --out /dev/null",
                                "train --device cuda --print-config"}) {
    const auto r = run_kiln(cmd);
    INFO(cmd << "\n" << r.out);
    CHECK(r.status == 2);
    CHECK(r.has("--device cuda"));
    CHECK((r.has("without CUDA") || r.has("no usable GPU")));
  }
  CHECK(run_kiln("info --device gpu").has("'gpu' is not a device"));
}

TEST_CASE("kiln sample, interpolate and eval on a tiny image run") {
  TempDir tmp("images");
  const std::string run = tmp / "run";
  // A network that predicts v (E37): the samplers and the bound see it as an ε-model.
  const auto t = run_kiln("train " + kTinyImages + " --prediction v --steps 3 --out " + run);
  INFO(t.out);
  REQUIRE(t.status == 0);

  // sample: a grid, the trajectory (x_t and predicted x0 rows), the steps study.
  auto s = run_kiln("sample " + run + " -n 6 --nrow 3 --steps 4 --trajectory --trajectory-samples 2 "
                "--steps-study 1,2,4");
  INFO(s.out);
  REQUIRE(s.status == 0);
  CHECK(png_size(tmp.path / "run" / "samples.png") == std::pair{3 * 18 + 2, 2 * 18 + 2});
  CHECK(fs::exists(tmp.path / "run" / "trajectory.png"));
  CHECK(fs::exists(tmp.path / "run" / "steps_study.png"));
  CHECK(s.has("DDIM (E25), 4 steps"));
  // DDPM with all T steps and the small variance, to a file of our choosing.
  s = run_kiln("sample --checkpoint " + run + "/checkpoint.safetensors --sampler ddpm --steps 0 "
           "--sigma small -n 4 --out " + tmp / "ddpm.png");
  INFO(s.out);
  CHECK(s.status == 0);
  CHECK(s.has("DDPM (E24), 20 steps"));
  CHECK(fs::exists(tmp.path / "ddpm.png"));
  // The same seed gives the same file; --steps above T is refused.
  run_kiln("sample " + run + " -n 4 --steps 3 --seed 5 --out " + tmp / "a.png");
  run_kiln("sample " + run + " -n 4 --steps 3 --seed 5 --out " + tmp / "b.png");
  CHECK(read_file(tmp.path / "a.png") == read_file(tmp.path / "b.png"));
  CHECK(run_kiln("sample " + run + " --steps 50").has("at most 20"));

  // interpolate: one row per pair.
  const auto i = run_kiln("interpolate " + run + " --pairs 2 --frames 3 --steps 3");
  INFO(i.out);
  CHECK(i.status == 0);
  CHECK(fs::exists(tmp.path / "run" / "interpolation.png"));

  // eval: bits/dim with every term, and the classifier's numbers; the second time the
  // classifier comes from the cache.
  const std::string eval_args = "eval " + run + " --bpd-images 2 --samples 8 --steps 3 "
                                "--real-images 16 --classifier-steps 10 --cache " + tmp / "cache";
  auto e = run_kiln(eval_args);
  INFO(e.out);
  REQUIRE(e.status == 0);
  json j = json::parse(read_file(tmp.path / "run" / "eval.json"));
  CHECK(j.at("step") == 3);
  CHECK(j.at("bpd").at("bits_per_dim").get<double>() > 0);
  CHECK(j.at("bpd").at("timesteps") == 20);
  CHECK(j.at("bpd").at("terms_bits_per_dim").size() == 3);
  const json& q = j.at("quality");
  CHECK(q.at("confident_share").get<double>() >= 0);
  CHECK(q.at("confident_share").get<double>() <= 1);
  CHECK(q.contains("frechet_distance"));
  CHECK(q.contains("kid"));
  CHECK(q.at("confident_per_class").contains("triangle"));
  CHECK(q.at("classifier").at("trained_now") == true);
  CHECK(q.at("classifier").contains("heldout_accuracy"));
  e = run_kiln(eval_args);
  REQUIRE(e.status == 0);
  j = json::parse(read_file(tmp.path / "run" / "eval.json"));
  CHECK(j.at("quality").at("classifier").at("trained_now") == false);
}

TEST_CASE("kiln train, sample and eval on a 2-D point set") {
  TempDir tmp("points");
  const std::string run = tmp / "run";
  const auto t = run_kiln("train --model mlp-2d --dataset gaussians8 --steps 20 --warmup 2 "
                      "--timesteps 50 --log-every 10 --preview-steps 5 --preview-samples 100 --out " + run);
  INFO(t.out);
  REQUIRE(t.status == 0);
  const auto s = run_kiln("sample " + run + " -n 200 --steps 10 --trajectory --steps-study 1,10");
  INFO(s.out);
  CHECK(s.status == 0);
  CHECK(png_size(tmp.path / "run" / "samples.png") == std::pair{480, 480});  // a scatter plot
  CHECK(fs::exists(tmp.path / "run" / "trajectory.png"));
  CHECK(fs::exists(tmp.path / "run" / "steps_study.png"));
  const auto e = run_kiln("eval " + run + " --bpd-images 4 --samples 200 --steps 10");
  INFO(e.out);
  REQUIRE(e.status == 0);
  const json j = json::parse(read_file(tmp.path / "run" / "eval.json"));
  CHECK(j.at("quality").contains("log_density_samples"));
  CHECK(j.at("quality").at("histogram_tv").get<double>() > j.at("quality").at("histogram_tv_data").get<double>());
  CHECK(j.at("bpd").at("decoder").get<std::string>().find("continuous") != std::string::npos);
  CHECK(run_kiln("interpolate " + run).has("E32's interpolation is for images"));
}

TEST_CASE("keras-unet64 (continuous time, E3b, per-channel E31) trains, samples and evaluates") {
  TempDir tmp("keras");
  const std::string run = tmp / "run";
  // The Keras chapter's network, shrunk: 16×16 images, two narrow blocks.
  const auto t = run_kiln("train --model keras-unet64 --arch '{\"res\": 16, \"widths\": [8, 16], "
                          "\"mid_width\": 16, \"block_depth\": 1}' --data-size 16 --batch-size 8 "
                          "--steps 2 --timesteps 20 --preview-samples 2 --preview-steps 3 --out " + run);
  INFO(t.out);
  REQUIRE(t.status == 0);
  const auto config = json::parse(read_file(tmp.path / "run" / "config.json"));
  CHECK(config.at("schedule") == "offset-cosine");
  CHECK(config.at("normalize") == "channel");
  CHECK(config.at("loss") == "l1");
  const auto s = run_kiln("sample " + run + " -n 2 --steps 3 --trajectory --trajectory-samples 1");
  INFO(s.out);
  CHECK(s.status == 0);
  CHECK(run_kiln("sample " + run + " --sampler ddpm").has("continuous-time model"));
  const auto e = run_kiln("eval " + run + " --bpd-images 1 --samples 4 --steps 3 --real-images 8 "
                          "--classifier-steps 5 --cache " + tmp / "cache");
  INFO(e.out);
  CHECK(e.status == 0);
  const json j = json::parse(read_file(tmp.path / "run" / "eval.json"));
  CHECK(j.at("bpd").at("timesteps") == 20);
  CHECK(j.at("quality").contains("confident_share"));
}

TEST_CASE("kiln schedule prints the rates of E1-E3b and plots them") {
  TempDir tmp("schedule");
  const auto r = run_kiln("schedule --timesteps 100 --rows 3 --out " + tmp / "s.png");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.has("linear (E1)"));
  CHECK(r.has("offset cosine (E3b)"));
  CHECK(r.has("1.00000 /     0.00000"));  // t = 0: all signal
  CHECK(png_size(tmp.path / "s.png").first == 3 * 480);
  const json j = json::parse(run_kiln("schedule --json --rows 2 --out " + tmp / "s.png").out);
  CHECK(j.size() == 4);
  CHECK(j[0].at("rows").size() == 2);
}

TEST_CASE("kiln info names the version and the devices") {
  const auto r = run_kiln("info");
  CHECK(r.status == 0);
  CHECK(r.has("kiln "));
  CHECK(r.has("cuda devices:"));
}

TEST_CASE("missing, truncated and foreign checkpoints are clear errors; the file is untouched") {
  TempDir tmp("ckpt");
  const std::string run = tmp / "run";
  REQUIRE(run_kiln("train " + kTinyImages + " --steps 1 --out " + run).status == 0);
  const fs::path ckpt = tmp.path / "run" / "checkpoint.safetensors";
  const std::string bytes = read_file(ckpt);
  write_file(tmp.path / "truncated.safetensors", bytes.substr(0, bytes.size() / 2));
  write_file(tmp.path / "garbage.safetensors", "not a checkpoint at all");
  // A safetensors file that kiln train did not write (no run config in its metadata).
  kiln::nn::save_safetensors(tmp.path / "foreign.safetensors", {{"w", kiln::Tensor::zeros({2})}});
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases = {
      {"sample " + tmp / "nope.safetensors", "no such file or folder"},
      {"sample " + tmp.path.string(), "without checkpoint.safetensors"},
      {"sample " + tmp / "truncated.safetensors", "truncated.safetensors"},
      {"eval " + tmp / "garbage.safetensors", "garbage.safetensors"},
      {"interpolate " + tmp / "foreign.safetensors", "not a checkpoint of kiln train"},
      {"train --resume " + tmp / "truncated.safetensors", "truncated.safetensors"},
      {"sample " + run + " --sampler euler", "--sampler"},
  };
  for (const Case& c : cases) {
    const auto r = run_kiln(c.args);
    INFO(c.args << "\n" << r.out);
    CHECK(r.status != 0);
    CHECK(r.status != -1);
    CHECK(r.has(c.expect));
  }
  CHECK(read_file(ckpt) == bytes);
}

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// MNIST-format files (IDX, gzip-compressed) of n images 28×28 with labels 0..9.
void write_mnist(const fs::path& dir, const std::string& prefix, int n) {
  std::string images = be32(0x803) + be32(n) + be32(28) + be32(28), labels = be32(0x801) + be32(n);
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < 28 * 28; ++p) images += static_cast<char>((p * 7 + i * 31) % 256);
    labels += static_cast<char>(i % 10);
  }
  for (const auto& [name, bytes] : {std::pair{prefix + "-images-idx3-ubyte.gz", images},
                                    std::pair{prefix + "-labels-idx1-ubyte.gz", labels}}) {
    gzFile f = gzopen((dir / name).c_str(), "wb");
    REQUIRE(f != nullptr);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  }
}

}  // namespace

TEST_CASE("kiln train reads downloaded files (MNIST .gz, a folder of images) and names bad ones") {
  TempDir tmp("files");
  fs::create_directories(tmp.path / "mnist");
  write_mnist(tmp.path / "mnist", "train", 16);
  write_mnist(tmp.path / "mnist", "t10k", 4);
  const std::string common = " --model ddpm-tiny --steps 1 --batch-size 4 --timesteps 10 "
                             "--sample-every 0 --preview-samples 2 --preview-steps 2";
  auto r = run_kiln("train --dataset mnist --data-path " + tmp / "mnist" + common + " --out " + tmp / "m");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.has("16 items of [1, 16, 16]"));  // grey, resized from 28×28 to the model's 16×16
  CHECK(json::parse(read_file(tmp.path / "m" / "config.json")).at("arch").at("channels") == 1);

  // A truncated image file: the error names it and says what is wrong.
  const std::string gz = read_file(tmp.path / "mnist" / "train-images-idx3-ubyte.gz");
  write_file(tmp.path / "mnist" / "train-images-idx3-ubyte.gz", gz.substr(0, gz.size() / 2));
  r = run_kiln("train --dataset mnist --data-path " + tmp / "mnist" + common + " --out " + tmp / "m2");
  INFO(r.out);
  CHECK(r.status == 2);
  CHECK(r.has("train-images-idx3-ubyte.gz"));

  // A folder of PNGs, resized and centre-cropped.
  fs::create_directories(tmp.path / "pngs");
  for (int i = 0; i < 6; ++i)
    kiln::data::save_png(tmp.path / "pngs" / ("im" + std::to_string(i) + ".png"),
                         kiln::Tensor::rand({3, 20, 30}));
  r = run_kiln("train --dataset folder --data-path " + tmp / "pngs" + common + " --out " + tmp / "f");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.has("5 items of [3, 16, 16]"));  // one of six is held out
  r = run_kiln("train --dataset cifar10 --data-path " + tmp / "nothing" + common + " --out " + tmp / "c");
  CHECK(r.status == 2);
  CHECK(r.has("data_batch_1.bin"));
}
