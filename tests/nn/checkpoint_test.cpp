// .safetensors files and training checkpoints: bit-exact round trips, the header parsed
// independently of the writer, atomic saves, and a clear error for every kind of bad
// file (missing, truncated, malformed JSON, bad offsets, unknown dtype) and for a
// checkpoint that does not fit the model (wrong shape, missing tensors).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/temp_dir.h"
#include "kiln.h"

using namespace kiln;
namespace fs = std::filesystem;
using kiln_test::read_bytes;
using kiln_test::write_bytes;
using nlohmann::json;

namespace {

// A file with the given header text and data section (length prefix written here).
void write_raw(const fs::path& p, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  write_bytes(p, bytes + header + data);
}

std::string raw(const Tensor& t) {
  const Tensor c = t.contiguous();
  return {static_cast<const char*>(c.raw_data()),
          static_cast<size_t>(c.numel()) * itemsize(c.dtype())};
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && raw(a) == raw(b);
}

std::map<std::string, Tensor> sample_tensors() {
  Generator gen(42);
  return {
      {"weights", Tensor::randn({3, 5}, {}, &gen)},
      {"double", Tensor::randn({2, 2, 2}, {.dtype = kFloat64}, &gen)},
      {"labels", Tensor::randint(-100, 100, {7}, {.dtype = kInt64}, &gen)},
      {"scalar", Tensor::scalar(3.25)},
      {"empty", Tensor::zeros({0, 4})},
      {"transposed", Tensor::randn({4, 3}, {}, &gen).t()},  // non-contiguous
  };
}

}  // namespace

TEST_CASE("checkpoint: safetensors round trip is bit-exact, with metadata") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "héllo \"quoted\""}};
  nn::save_safetensors(dir / "a.safetensors", tensors, meta);
  const auto file = nn::load_safetensors(dir / "a.safetensors");
  CHECK(file.metadata == meta);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    REQUIRE(file.tensors.count(name));
    CHECK_MESSAGE(bit_equal(file.tensors.at(name), t), name);
  }
  // Empty dict, no metadata.
  nn::save_safetensors(dir / "empty.safetensors", {});
  CHECK(nn::load_safetensors(dir / "empty.safetensors").tensors.empty());
}

TEST_CASE("checkpoint: the header parses independently of the writer") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  const auto tensors = sample_tensors();
  nn::save_safetensors(dir / "a.safetensors", tensors, {{"k", "v"}});
  const std::string bytes = read_bytes(dir / "a.safetensors");
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  CHECK((8 + n) % 8 == 0);  // padded so the data starts 8-aligned
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));  // padding is spaces only
  const json h = json::parse(header);
  CHECK(h.at("__metadata__") == json({{"k", "v"}}));

  const std::uint64_t data_size = bytes.size() - 8 - n;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [name, t] : tensors) {
    const json& e = h.at(name);
    const std::map<DType, std::string> dt{{kFloat32, "F32"}, {kFloat64, "F64"}, {kInt64, "I64"}};
    CHECK(e.at("dtype") == dt.at(t.dtype()));
    CHECK(e.at("shape").get<Shape>() == t.shape());
    const auto begin = e.at("data_offsets")[0].get<std::uint64_t>();
    const auto end = e.at("data_offsets")[1].get<std::uint64_t>();
    CHECK(end - begin == static_cast<std::uint64_t>(t.numel()) * itemsize(t.dtype()));
    CHECK(bytes.substr(8 + n + begin, end - begin) == raw(t));  // little-endian host
    ranges.emplace_back(begin, end);
  }
  CHECK(h.size() == tensors.size() + 1);
  // The ranges tile [0, data_size) exactly.
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t covered = 0;
  for (const auto& [b, e] : ranges) {
    CHECK(b == covered);
    covered = e;
  }
  CHECK(covered == data_size);
}

TEST_CASE("checkpoint: saves are atomic and leave no temporary files") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  const fs::path p = dir / "model.safetensors";
  nn::save_safetensors(p, {{"a", Tensor::ones({2})}});
  const std::string before = read_bytes(p);
  // A failure before writing (an undefined tensor) leaves the old file as it was.
  CHECK_THROWS_WITH_AS(nn::save_safetensors(p, {{"a", Tensor::ones({2})}, {"b", Tensor()}}),
                       doctest::Contains("tensor 'b' is undefined"), Error);
  CHECK(read_bytes(p) == before);
  // A failure at the rename (the target is a directory) removes the temporary file.
  fs::create_directories(dir / "taken");
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir / "taken", {{"a", Tensor::ones({2})}}),
                       doctest::Contains("cannot rename"), Error);
  // A directory that does not exist.
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir / "no/such/dir.safetensors", {}),
                       doctest::Contains("cannot create"), Error);
  // Overwriting works, and nothing but the two files is left behind.
  nn::save_safetensors(p, {{"a", Tensor::zeros({3})}});
  CHECK(nn::load_safetensors(p).tensors.at("a").shape() == Shape{3});
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    ++entries;
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  }
  CHECK(entries == 2);  // model.safetensors and taken/
}

TEST_CASE("checkpoint: missing and truncated files are clear errors") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  const fs::path p = dir / "t.safetensors";
  CHECK_THROWS_WITH_AS(nn::load_safetensors(dir / "nope.safetensors"),
                       doctest::Contains("nope.safetensors': no such file"), Error);
  nn::save_safetensors(p, {{"w", Tensor::ones({16})}, {"v", Tensor::ones({4})}});
  const std::string full = read_bytes(p);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<std::uint64_t>(static_cast<unsigned char>(full[i])) << (8 * i);

  write_bytes(p, full.substr(0, 5));
  CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains("truncated: 5 bytes"), Error);
  write_bytes(p, full.substr(0, 8 + n / 2));
  CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains("truncated: the header is"),
                       Error);
  write_bytes(p, full.substr(0, full.size() - 10));
  CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains("truncated: tensor 'w'"), Error);
  write_bytes(p, "");
  CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains("truncated: 0 bytes"), Error);
}

TEST_CASE("checkpoint: malformed headers name the file and what is wrong") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  const fs::path p = dir / "bad.safetensors";
  const std::string data16(16, '\0');
  auto expect = [&](const std::string& header, const std::string& data, const char* message) {
    write_raw(p, header, data);
    CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains(message), Error);
    try {
      nn::load_safetensors(p);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("bad.safetensors") != std::string::npos);
    }
  };
  expect("{\"a\": {", data16, "not valid JSON");
  expect("[1, 2]", "", "a JSON array instead of an object");
  expect(R"({"a": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}})", data16,
         "dtype 'F16', which kiln does not read");
  expect(R"({"a": {"dtype": "F32", "shape": [4]}})", data16, "needs dtype, shape and data_offsets");
  expect(R"({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", data16,
         "sizes must be non-negative");
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}})", data16,
         "needs 16 bytes but its data_offsets [0, 12] hold 12");
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})", data16,
         "occupies bytes [16, 32) of the data section, which has only 16 bytes");
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [8, 0]}})", data16,
         "end before begin");
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
         data16, "tensors 'a' [0, 16) and 'b' [8, 16) overlap");
  expect(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})",
         data16, "bytes [8, 12) of the data section belong to no tensor");
  expect(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", data16,
         "8 bytes after the last tensor");
  expect(R"({"__metadata__": {"k": 1}})", "", "metadata 'k' is not a string");
  expect(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": "x"}})", data16,
         "expected [begin, end]");
  // A header length larger than the file.
  write_bytes(p, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));
  CHECK_THROWS_WITH_AS(nn::load_safetensors(p), doctest::Contains("truncated"), Error);
  // A file from another writer: no padding, keys in any order, no metadata.
  write_raw(p,
            R"({"b":{"data_offsets":[8,16],"shape":[1],"dtype":"I64"},)"
            R"("a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})",
            std::string("\0\0\0\0\0\0\xf0\x3f\x05\0\0\0\0\0\0\0", 16));
  const auto f = nn::load_safetensors(p);
  CHECK(f.tensors.at("a").item() == 1.0);
  CHECK(f.tensors.at("b").item() == 5.0);
}

namespace {
struct Net : nn::Module {
  std::shared_ptr<nn::Conv2d> conv = register_module(
      "conv", std::make_shared<nn::Conv2d>(1, 2, 3, nn::Conv2dOptions{.padding = 1}));
  std::shared_ptr<nn::BatchNorm2d> bn =
      register_module("bn", std::make_shared<nn::BatchNorm2d>(2));
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(8, 3));
  Tensor forward(const Tensor& x) override {
    return fc->forward(bn->forward(conv->forward(x)).relu().flatten(1));
  }
};

// One training step on data drawn from gen.
void train_step(Net& net, optim::Optimizer& opt, nn::EMA& ema, Generator& gen) {
  const Tensor x = Tensor::randn({4, 1, 2, 2}, {}, &gen);
  const Tensor y = Tensor::randn({4, 3}, {}, &gen);
  opt.zero_grad();
  (net.forward(x) - y).square().mean().backward();
  opt.step();
  ema.update(net);
}
}  // namespace

TEST_CASE("checkpoint: model + optimizer + EMA + step + RNG resume bit-exactly") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  manual_seed(3);
  Net a;
  optim::AdamW opt_a(a.parameters(), 1e-2);
  nn::EMA ema_a(a, 0.9);
  Generator gen_a(77);
  for (int s = 0; s < 3; ++s) train_step(a, opt_a, ema_a, gen_a);
  nn::Checkpoint{.model = &a, .optimizer = &opt_a, .ema = &ema_a, .generator = &gen_a}.save(
      dir / "ckpt.safetensors", 3, {{"config", "{\"lr\": 0.01}"}});

  manual_seed(4);  // different initial weights
  Net b;
  optim::AdamW opt_b(b.parameters(), 1.0);
  nn::EMA ema_b(b, 0.9);
  Generator gen_b(1);
  nn::Checkpoint ckpt_b{.model = &b, .optimizer = &opt_b, .ema = &ema_b, .generator = &gen_b};
  const auto loaded = ckpt_b.load(dir / "ckpt.safetensors");
  CHECK(loaded.step == 3);
  CHECK(loaded.metadata == std::map<std::string, std::string>{{"config", "{\"lr\": 0.01}"}});
  CHECK(opt_b.lr() == 1e-2);
  CHECK(gen_b.state().seed == gen_a.state().seed);
  CHECK(gen_b.state().offset == gen_a.state().offset);
  for (const auto& [k, v] : a.state_dict()) CHECK_MESSAGE(bit_equal(b.state_dict().at(k), v), k);
  for (const auto& [k, v] : opt_a.state_dict())
    CHECK_MESSAGE(bit_equal(opt_b.state_dict().at(k), v), k);
  for (const auto& [k, v] : ema_a.state_dict())
    CHECK_MESSAGE(bit_equal(ema_b.state_dict().at(k), v), k);

  // Training on from the checkpoint gives exactly what training straight through gives.
  for (int s = 0; s < 2; ++s) {
    train_step(a, opt_a, ema_a, gen_a);
    train_step(b, opt_b, ema_b, gen_b);
  }
  for (const auto& [k, v] : a.state_dict()) CHECK_MESSAGE(bit_equal(b.state_dict().at(k), v), k);
  for (const auto& [k, v] : ema_a.shadow()) CHECK_MESSAGE(bit_equal(ema_b.shadow().at(k), v), k);

  // The file is plain safetensors with the documented prefixes.
  const auto file = nn::load_safetensors(dir / "ckpt.safetensors");
  CHECK(file.tensors.count("model.conv.weight"));
  CHECK(file.tensors.count("model.bn.num_batches_tracked"));
  CHECK(file.tensors.count("optim.exp_avg.0"));
  CHECK(file.tensors.count("ema.shadow.fc.bias"));
  CHECK(file.metadata.at("kiln.step") == "3");
}

TEST_CASE("checkpoint: a checkpoint that does not fit says exactly what differs") {
  kiln_test::TempDir dir{"kiln_nn_ckpt"};
  Net a;
  optim::Adam opt(a.parameters(), 1e-3);
  nn::Checkpoint{.model = &a, .optimizer = &opt}.save(dir / "c.safetensors", 10);

  SUBCASE("wrong shape, and no EMA in the file; nothing is changed") {
    struct Wider : nn::Module {
      std::shared_ptr<nn::Conv2d> conv = register_module(
          "conv", std::make_shared<nn::Conv2d>(1, 2, 3, nn::Conv2dOptions{.padding = 1}));
      std::shared_ptr<nn::BatchNorm2d> bn =
          register_module("bn", std::make_shared<nn::BatchNorm2d>(2));
      std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(8, 5));
    } wide;
    nn::EMA ema(wide);
    const auto before = wide.conv->weight.to_vector<float>();
    CHECK_THROWS_WITH_AS(
        (nn::Checkpoint{.model = &wide, .ema = &ema}.load(dir / "c.safetensors")),
        doctest::Contains("model: shape of fc.weight: [3, 8] in the dict vs [5, 8] expected; "
                          "shape of fc.bias: [3] in the dict vs [5] expected; ema: the file "
                          "holds no 'ema.' tensors"),
        Error);
    CHECK(wide.conv->weight.to_vector<float>() == before);
  }
  SUBCASE("a missing tensor") {
    auto file = nn::load_safetensors(dir / "c.safetensors");
    file.tensors.erase("model.fc.bias");
    nn::save_safetensors(dir / "d.safetensors", file.tensors, file.metadata);
    Net b;
    CHECK_THROWS_WITH_AS(nn::Checkpoint{.model = &b}.load(dir / "d.safetensors"),
                         doctest::Contains("d.safetensors': model: missing keys: fc.bias"),
                         Error);
  }
  SUBCASE("not a kiln checkpoint, and no generator state") {
    nn::save_safetensors(dir / "e.safetensors", {{"model.fc.bias", Tensor::zeros({3})}});
    Generator gen;
    CHECK_THROWS_WITH_AS(
        (nn::Checkpoint{.generator = &gen}.load(dir / "e.safetensors")),
        doctest::Contains("no 'kiln.step' in the metadata (not a kiln checkpoint); no valid "
                          "generator state"),
        Error);
    Generator g2;
    CHECK_THROWS_WITH_AS(nn::Checkpoint{.generator = &g2}.load(dir / "c.safetensors"),
                         doctest::Contains("no valid generator state"), Error);
  }
  // Parts present in the file with nothing attached are ignored: weights only.
  Net c;
  CHECK(nn::Checkpoint{.model = &c}.load(dir / "c.safetensors").step == 10);
  CHECK_THROWS_WITH_AS(
      nn::Checkpoint{.model = &c}.save(dir / "f.safetensors", 1, {{"kiln.x", "1"}}),
      doctest::Contains("reserved prefix"), Error);
}
