// The loaders of downloaded data sets (MNIST IDX plain and .gz, CIFAR-10 binary
// batches, folders of images), each on small files this test writes itself: good files
// load with the right values, and missing, truncated and malformed files throw errors
// that name the file and what is wrong.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>

#include "common/temp_dir.h"
#include "data/files.h"
#include "data/image.h"
#include "kiln.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>  // to write a JPEG (kiln itself only writes PNG)
#pragma GCC diagnostic pop

using namespace kiln;
using namespace kiln::data;
namespace fs = std::filesystem;
using kiln_test::read_bytes;
using kiln_test::write_bytes;

namespace {

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// n images of rows × cols: pixel k of image i = (i * 31 + k) % 256; labels i % 10.
std::string idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::string b = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t k = 0; k < rows * cols; ++k) b += static_cast<char>((i * 31 + k) % 256);
  return b;
}
std::string idx_labels(std::uint32_t n) {
  std::string b = be32(0x801) + be32(n);
  for (std::uint32_t i = 0; i < n; ++i) b += static_cast<char>(i % 10);
  return b;
}

// CIFAR-10 records: label (i * 3) % 10, pixel k = (i + k) % 251.
std::string cifar_records(int n, int first = 0) {
  std::string b;
  for (int i = first; i < first + n; ++i) {
    b += static_cast<char>((i * 3) % 10);
    for (int k = 0; k < 3072; ++k) b += static_cast<char>((i + k) % 251);
  }
  return b;
}

// Runs f, expects a kiln::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL("no error was thrown");
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, msg, " lacks: ", p);
  }
}

}  // namespace

TEST_CASE("mnist: plain IDX files load with the right values") {
  kiln_test::TempDir dir{"kiln_data_files"};
  write_bytes(dir / "img", idx_images(5, 4, 3));
  write_bytes(dir / "lab", idx_labels(5));
  const Dataset d = load_mnist(dir / "img", dir / "lab");
  CHECK(d.name == "mnist");
  CHECK(d.images.shape() == Shape{5, 1, 4, 3});
  CHECK(d.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK(d.classes.size() == 10);
  CHECK(d.images.at({2, 0, 1, 2}) == doctest::Approx(((2 * 31 + 5) % 256) / 255.0));
  CHECK(d.images.at({4, 0, 3, 2}) == doctest::Approx(((4 * 31 + 11) % 256) / 255.0));
  const IdxFile raw = read_idx(dir / "img");
  CHECK(raw.shape == std::vector<std::int64_t>{5, 4, 3});
  CHECK(raw.bytes.size() == 60);
}

TEST_CASE("mnist: .gz files (and the standard names in a folder) load alike") {
  kiln_test::TempDir dir{"kiln_data_files"};
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(7, 28, 28));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(7));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(3, 28, 28));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels(3));
  const Dataset train = load_mnist_dir(dir.path, true);
  CHECK(train.images.shape() == Shape{7, 1, 28, 28});
  CHECK(train.images.at({6, 0, 27, 27}) == doctest::Approx(((6 * 31 + 783) % 256) / 255.0));
  CHECK(train.labels.to_vector<std::int64_t>().back() == 6);
  const Dataset test = load_mnist_dir(dir.path, false);
  CHECK(test.images.shape() == Shape{3, 1, 28, 28});
  // The same bytes, compressed or not, give the same tensor.
  write_bytes(dir / "plain", idx_images(7, 28, 28));
  CHECK(load_mnist(dir / "plain", dir / "train-labels-idx1-ubyte.gz").images.to_vector<float>() ==
        train.images.to_vector<float>());
}

TEST_CASE("mnist: missing, truncated and malformed files name the file and the problem") {
  kiln_test::TempDir dir{"kiln_data_files"};
  const std::string img = idx_images(5, 4, 3), lab = idx_labels(5);
  write_bytes(dir / "img", img);
  write_bytes(dir / "lab", lab);
  const std::string imgp = (dir / "img").string(), labp = (dir / "lab").string();

  expect_error([&] { load_mnist(dir / "nope", dir / "lab"); }, {"nope", "does not exist"});
  expect_error([&] { load_mnist_dir(dir.path / "empty"); }, {"train-images-idx3-ubyte"});

  write_bytes(dir / "short", img.substr(0, 40));
  expect_error([&] { load_mnist(dir / "short", dir / "lab"); },
               {(dir / "short").string(), "truncated at byte 40", "76 bytes"});
  write_bytes(dir / "tiny", img.substr(0, 2));
  expect_error([&] { load_mnist(dir / "tiny", dir / "lab"); }, {"tiny", "truncated at byte 2"});
  write_bytes(dir / "header", img.substr(0, 10));
  expect_error([&] { load_mnist(dir / "header", dir / "lab"); }, {"header", "truncated at byte 10"});
  write_bytes(dir / "long", img + "xyz");
  expect_error([&] { load_mnist(dir / "long", dir / "lab"); }, {"long", "size mismatch", "3 extra"});

  // Labels passed as images and the other way round: the wrong magic number.
  expect_error([&] { load_mnist(dir / "lab", dir / "lab"); },
               {labp, "bad magic number 0x00000801", "0x00000803"});
  expect_error([&] { load_mnist(dir / "img", dir / "img"); }, {imgp, "bad magic number"});
  write_bytes(dir / "text", "hello, this is not an IDX file at all");
  expect_error([&] { load_mnist(dir / "text", dir / "lab"); }, {"text", "bad magic number"});
  write_bytes(dir / "float", be32(0x0d03) + be32(1) + be32(1) + be32(1) + std::string(4, '\0'));
  expect_error([&] { load_mnist(dir / "float", dir / "lab"); }, {"float", "type 0x0d"});

  write_bytes(dir / "lab4", idx_labels(4));
  expect_error([&] { load_mnist(dir / "img", dir / "lab4"); }, {imgp, "5 images", "4 labels"});
  std::string bad = lab;
  bad[8 + 2] = 42;
  write_bytes(dir / "badlab", bad);
  expect_error([&] { load_mnist(dir / "img", dir / "badlab"); }, {"badlab", "label 42", "item 2"});

  // A cut-off .gz and a corrupted one.
  write_gz(dir / "img.gz", img);
  const std::string gz = read_bytes(dir / "img.gz");
  write_bytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  expect_error([&] { load_mnist(dir / "cut.gz", dir / "lab"); }, {"cut.gz"});
  std::string corrupt = gz;
  for (size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  write_bytes(dir / "corrupt.gz", corrupt);
  expect_error([&] { load_mnist(dir / "corrupt.gz", dir / "lab"); }, {"corrupt.gz", "corrupt"});
  expect_error([&] { load_mnist(dir.path, dir / "lab"); }, {"is a directory"});
}

TEST_CASE("cifar10: binary batches load with the right layout, labels and classes") {
  kiln_test::TempDir dir{"kiln_data_files"};
  write_bytes(dir / "a.bin", cifar_records(3));
  write_bytes(dir / "b.bin", cifar_records(2, 3));
  const Dataset d = load_cifar10({dir / "a.bin", dir / "b.bin"});
  CHECK(d.name == "cifar10");
  CHECK(d.images.shape() == Shape{5, 3, 32, 32});
  CHECK(d.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 3, 6, 9, 2});
  CHECK(d.classes == cifar10_classes());
  CHECK(d.classes[1] == "automobile");
  // Red plane first, row-major: pixel (c, y, x) is byte 1 + c*1024 + y*32 + x of its record.
  CHECK(d.images.at({1, 0, 0, 0}) == doctest::Approx((1 % 251) / 255.0));
  CHECK(d.images.at({4, 2, 5, 7}) == doctest::Approx(((4 + 2 * 1024 + 5 * 32 + 7) % 251) / 255.0));
  CHECK(d.images.at({2, 1, 31, 31}) == doctest::Approx(((2 + 2047) % 251) / 255.0));

  write_bytes(dir / "test_batch.bin", cifar_records(2));
  CHECK(load_cifar10_dir(dir.path, false).size() == 2);
  expect_error([&] { load_cifar10_dir(dir.path, true); }, {"data_batch_1.bin", "does not exist"});
}

TEST_CASE("cifar10: truncated and malformed batches name the file and the problem") {
  kiln_test::TempDir dir{"kiln_data_files"};
  const std::string good = cifar_records(3);
  write_bytes(dir / "cut.bin", good.substr(0, 2 * 3073 + 100));
  expect_error([&] { load_cifar10({dir / "cut.bin"}); },
               {(dir / "cut.bin").string(), "truncated at byte 6246", "3073"});
  std::string bad = good;
  bad[3073] = static_cast<char>(200);
  write_bytes(dir / "bad.bin", bad);
  expect_error([&] { load_cifar10({dir / "bad.bin"}); }, {"bad.bin", "record 1", "label 200"});
  write_bytes(dir / "empty.bin", "");
  expect_error([&] { load_cifar10({dir / "empty.bin"}); }, {"empty.bin", "empty"});
  expect_error([&] { load_cifar10({}); }, {"no batch files"});
}

TEST_CASE("image folder: classes from sub-folders, resize and centre crop, errors") {
  kiln_test::TempDir dir{"kiln_data_files"};
  fs::create_directories(dir / "cats");
  fs::create_directories(dir / "dogs");
  // A 40 × 20 image: left half red, right half blue.
  Tensor wide = Tensor::zeros({3, 20, 40});
  wide.narrow(2, 0, 20).select(0, 0).fill_(1.0);
  wide.narrow(2, 20, 20).select(0, 2).fill_(1.0);
  save_png(dir / "cats" / "wide.png", wide);
  Tensor green = Tensor::zeros({3, 9, 9});
  green.select(0, 1).fill_(1.0);
  save_png(dir / "cats" / "green.PNG", green);
  // A JPEG of one grey level (JPEG is lossy, but a flat colour survives it).
  std::vector<unsigned char> grey(30 * 24 * 3, 128);
  REQUIRE(stbi_write_jpg((dir / "dogs" / "flat.jpg").c_str(), 30, 24, 3, grey.data(), 95));
  write_bytes(dir / "dogs" / "notes.txt", "not an image, and not named like one");
  write_bytes(dir / "dogs" / ".hidden.png", "skipped: hidden");

  const Dataset d = load_image_folder(dir.path, 8);
  CHECK(d.images.shape() == Shape{3, 3, 8, 8});
  CHECK(d.classes == std::vector<std::string>{"cats", "dogs"});
  CHECK(d.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 1});
  // Sorted: green.PNG < wide.png. The green image stays pure green after resizing.
  CHECK(d.images.at({0, 1, 4, 4}) == doctest::Approx(1.0));
  CHECK(d.images.at({0, 0, 4, 4}) == doctest::Approx(0.0));
  // wide: shorter side 20 -> 8, so 16 × 8, centre crop keeps columns 4..11: red then blue.
  CHECK(d.images.at({1, 0, 3, 0}) == doctest::Approx(1.0));
  CHECK(d.images.at({1, 2, 3, 0}) == doctest::Approx(0.0));
  CHECK(d.images.at({1, 2, 3, 7}) == doctest::Approx(1.0));
  CHECK(d.images.at({1, 0, 3, 7}) == doctest::Approx(0.0));
  CHECK(d.images.at({2, 1, 4, 4}) == doctest::Approx(128 / 255.0).epsilon(0.02));
  CHECK(load_image_folder(dir.path, 5, 1).images.shape() == Shape{3, 1, 5, 5});

  // A flat folder: every label 0, no classes.
  kiln_test::TempDir flat{"kiln_data_files"};
  save_png(flat / "a.png", Tensor::full({3, 4, 4}, 0.5));
  const Dataset f = load_image_folder(flat.path, 4);
  CHECK(f.images.shape() == Shape{1, 3, 4, 4});
  CHECK(f.classes.empty());
  CHECK(f.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0});

  write_bytes(dir / "dogs" / "fake.png", "this is text pretending to be a PNG");
  expect_error([&] { load_image_folder(dir.path, 8); },
               {(dir / "dogs" / "fake.png").string(), "not an image"});
  kiln_test::TempDir empty{"kiln_data_files"};
  expect_error([&] { load_image_folder(empty.path, 8); }, {empty.path.string(), "no PNG"});
  expect_error([&] { load_image_folder(empty / "missing", 8); }, {"missing", "does not exist"});
}

TEST_CASE("resize: area when shrinking, bilinear when enlarging") {
  // 4 × 4 -> 2 × 2: each output is the mean of a 2 × 2 block.
  const Tensor x = Tensor::arange(16).reshape({1, 4, 4});
  const Tensor small = resize_image(x, 2, 2);
  CHECK(small.to_vector<double>() == std::vector<double>{2.5, 4.5, 10.5, 12.5});
  // 3 -> 2 (fractional areas): [0, 1, 2] -> [(0 + 0.5) / 1.5, (0.5 + 2) / 1.5].
  const auto frac = resize_image(Tensor::tensor({0, 1, 2}).reshape({1, 1, 3}), 1, 2).to_vector<double>();
  CHECK(frac[0] == doctest::Approx(1.0 / 3));
  CHECK(frac[1] == doctest::Approx(5.0 / 3));
  // 2 -> 4 bilinear with half-pixel centres (PyTorch align_corners=False).
  const auto up = resize_image(Tensor::tensor({0, 1}).reshape({1, 1, 2}), 1, 4).to_vector<double>();
  CHECK(up[0] == doctest::Approx(0.0));
  CHECK(up[1] == doctest::Approx(0.25));
  CHECK(up[2] == doctest::Approx(0.75));
  CHECK(up[3] == doctest::Approx(1.0));
  // Same size: unchanged. Constant images stay constant either way.
  CHECK(resize_image(x, 4, 4).to_vector<double>() == x.to_vector<double>());
  const auto c = resize_image(Tensor::full({2, 7, 5}, 0.3), 3, 11).to_vector<double>();
  for (double v : c) CHECK(v == doctest::Approx(0.3));
  CHECK(resize_center_crop(Tensor::zeros({3, 10, 30}), 6).shape() == Shape{3, 6, 6});
  CHECK_THROWS_AS(resize_image(Tensor::zeros({4, 4}), 2, 2), Error);
}
