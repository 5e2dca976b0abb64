// PNG files, grids and plots: a save/load round trip within 1/255, every accepted
// layout, atomic writes that leave an existing file intact when writing fails,
// torchvision's make_grid layout, and plots of the expected size that draw something.
#include <doctest/doctest.h>

#include <filesystem>

#include "common/temp_dir.h"
#include "data/image.h"
#include "data/plot.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::data;
namespace fs = std::filesystem;
using kiln_test::read_bytes;
using kiln_test::write_bytes;

namespace {


double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("png: save then load_image round trips within 1/255") {
  kiln_test::TempDir dir{"kiln_data_image"};
  Generator gen(3);
  const Tensor rgb = Tensor::rand({3, 17, 23}, {}, &gen);
  save_png(dir / "rgb.png", rgb);
  const Tensor back = load_image(dir / "rgb.png");
  CHECK(back.shape() == Shape{3, 17, 23});
  CHECK(back.dtype() == kFloat32);
  CHECK(max_abs_diff(back, rgb) <= 0.5 / 255 + 1e-6);  // rounding to 8 bits

  // [H, W, 3] is the same picture.
  save_png(dir / "hwc.png", rgb.permute({1, 2, 0}));
  CHECK(read_bytes(dir / "hwc.png") == read_bytes(dir / "rgb.png"));
  // Grey [1, H, W], [H, W]; a batch of one; float64; clipping of out-of-range values.
  const Tensor grey = Tensor::rand({1, 8, 5}, {.dtype = kFloat64}, &gen);
  save_png(dir / "grey.png", grey);
  const Tensor g = load_image(dir / "grey.png", 0);
  CHECK(g.shape() == Shape{1, 8, 5});
  CHECK(max_abs_diff(g, grey) <= 0.5 / 255 + 1e-6);
  save_png(dir / "grey2.png", grey.squeeze(0));
  CHECK(read_bytes(dir / "grey2.png") == read_bytes(dir / "grey.png"));
  CHECK(load_image(dir / "grey.png", 3).shape() == Shape{3, 8, 5});
  save_png(dir / "batch.png", rgb.unsqueeze(0));
  CHECK(read_bytes(dir / "batch.png") == read_bytes(dir / "rgb.png"));
  save_png(dir / "clip.png", Tensor::tensor({{-1.0, 2.0}, {NAN, 0.5}}));
  CHECK(load_image(dir / "clip.png", 1).to_vector<double>() ==
        std::vector<double>{0.0, 1.0, 0.0, 128 / 255.0f});
  // RGBA keeps its alpha.
  const Tensor rgba = Tensor::rand({4, 3, 3}, {}, &gen);
  save_png(dir / "rgba.png", rgba);
  CHECK(max_abs_diff(load_image(dir / "rgba.png", 0), rgba) <= 0.5 / 255 + 1e-6);
  // No temporary files are left behind.
  for (const auto& e : fs::directory_iterator(dir.path))
    CHECK(e.path().extension() == ".png");
}

TEST_CASE("png: bad shapes and failed writes throw naming the file and leave it intact") {
  kiln_test::TempDir dir{"kiln_data_image"};
  const fs::path keep = dir / "keep.png";
  save_png(keep, Tensor::full({3, 4, 4}, 0.25));
  const std::string before = read_bytes(keep);

  std::string msg = error_of([&] { save_png(keep, Tensor::zeros({2, 5, 5, 5})); });
  CHECK(msg.find(keep.string()) != std::string::npos);
  CHECK(msg.find("[2, 5, 5, 5]") != std::string::npos);
  msg = error_of([&] { save_png(keep, Tensor::zeros({5, 6, 7})); });
  CHECK(msg.find("1, 3 or 4 channels") != std::string::npos);
  CHECK(read_bytes(keep) == before);

  // A path in a directory that does not exist.
  msg = error_of([&] { save_png(dir / "no" / "such" / "dir.png", Tensor::zeros({3, 2, 2})); });
  CHECK(msg.find((dir / "no" / "such" / "dir.png").string()) != std::string::npos);
  CHECK(msg.find("No such file") != std::string::npos);
  // The target is a non-empty directory: the rename fails after the data was written;
  // the directory and its file survive and the temporary file is removed.
  fs::create_directories(dir / "taken.png");
  write_bytes(dir / "taken.png" / "inside", "precious");
  msg = error_of([&] { save_png(dir / "taken.png", Tensor::zeros({3, 2, 2})); });
  CHECK(msg.find("taken.png") != std::string::npos);
  CHECK(msg.find("unchanged") != std::string::npos);
  CHECK(read_bytes(dir / "taken.png" / "inside") == "precious");
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);  // keep.png only: no stray temporaries
  CHECK(read_bytes(keep) == before);

  // Overwriting works and replaces the file whole.
  save_png(keep, Tensor::full({3, 6, 6}, 0.75));
  CHECK(load_image(keep).shape() == Shape{3, 6, 6});
}

TEST_CASE("load_image: missing files and non-images name the file") {
  kiln_test::TempDir dir{"kiln_data_image"};
  std::string msg = error_of([&] { load_image(dir / "missing.png"); });
  CHECK(msg.find((dir / "missing.png").string()) != std::string::npos);
  CHECK(msg.find("cannot open") != std::string::npos);
  write_bytes(dir / "text.png", "definitely not a PNG file");
  msg = error_of([&] { load_image(dir / "text.png"); });
  CHECK(msg.find("text.png") != std::string::npos);
  CHECK(msg.find("not an image") != std::string::npos);
  write_bytes(dir / "empty.png", "");
  CHECK(error_of([&] { load_image(dir / "empty.png"); }).find("empty") != std::string::npos);
  // A PNG cut in half decodes to an error, not garbage.
  save_png(dir / "full.png", Tensor::rand({3, 64, 64}));
  const std::string bytes = read_bytes(dir / "full.png");
  write_bytes(dir / "cut.png", bytes.substr(0, bytes.size() / 2));
  msg = error_of([&] { load_image(dir / "cut.png"); });
  CHECK(msg.find("cut.png") != std::string::npos);
  CHECK(msg != "(no error)");
  CHECK_THROWS_AS(load_image(dir / "full.png", 2), Error);
}

TEST_CASE("make_grid: torchvision's layout") {
  // 5 images of 3 × 4 × 4, nrow 2, padding 1: 2 columns, 3 rows.
  const Tensor x = Tensor::arange(5).reshape({5, 1, 1, 1}).expand({5, 3, 4, 4}).contiguous() / 10.0;
  const Tensor g = make_grid(x, 2, 1, 0.5);
  CHECK(g.shape() == Shape{3, 3 * 5 + 1, 2 * 5 + 1});
  CHECK(g.at({0, 0, 0}) == doctest::Approx(0.5));              // padding
  CHECK(g.at({0, 1, 1}) == doctest::Approx(0.0));              // image 0 at (1, 1)
  CHECK(g.at({1, 1, 6}) == doctest::Approx(0.1));              // image 1 at (1, 6)
  CHECK(g.at({2, 6 + 3, 1 + 3}) == doctest::Approx(0.2));      // image 2 at (6, 1)
  CHECK(g.at({0, 11, 1}) == doctest::Approx(0.4));             // image 4 at (11, 1)
  CHECK(g.at({0, 11, 6}) == doctest::Approx(0.5));             // the empty slot
  CHECK(g.at({0, 5, 2}) == doctest::Approx(0.5));              // padding between rows
  // Grey images become RGB; defaults nrow 8, padding 2.
  const Tensor grey = make_grid(Tensor::zeros({10, 1, 3, 3}));
  CHECK(grey.shape() == Shape{3, 2 * 5 + 2, 8 * 5 + 2});
  // One image is returned as it is.
  CHECK(make_grid(Tensor::ones({1, 3, 4, 5})).shape() == Shape{3, 4, 5});
  CHECK_THROWS_AS(make_grid(Tensor::zeros({4, 4})), Error);
  kiln_test::TempDir dir{"kiln_data_image"};
  save_grid(dir / "grid.png", x, 2, 1);
  CHECK(load_image(dir / "grid.png").shape() == Shape{3, 16, 11});
}

TEST_CASE("plot: line plots and scatter plots of the expected size that draw something") {
  kiln_test::TempDir dir{"kiln_data_image"};
  Series a{.name = "train loss", .x = {}, .y = {}};
  Series b{.name = "val loss", .x = {}, .y = {}};
  for (int i = 0; i < 200; ++i) {
    a.y.push_back(1.0 / (1 + 0.05 * i));
    b.x.push_back(i);
    b.y.push_back(1.2 / (1 + 0.04 * i));
  }
  b.y[50] = NAN;  // a gap, not a crash
  save_line_plot(dir / "loss.png", {a, b},
                 {.title = "Loss", .xlabel = "step", .ylabel = "loss", .width = 500, .height = 300});
  const Tensor img = load_image(dir / "loss.png");
  CHECK(img.shape() == Shape{3, 300, 500});
  // Pixels of each series' colour are present, and plenty of non-white pixels.
  const auto v = img.to_vector<float>();
  const size_t plane = 300 * 500;
  auto count_near = [&](Color c) {
    int n = 0;
    for (size_t p = 0; p < plane; ++p)
      n += std::abs(v[p] - c.r) < 0.05 && std::abs(v[plane + p] - c.g) < 0.05 &&
           std::abs(v[2 * plane + p] - c.b) < 0.05;
    return n;
  };
  CHECK(count_near(palette(0)) > 200);
  CHECK(count_near(palette(1)) > 200);
  int non_white = 0;
  for (size_t p = 0; p < plane; ++p) non_white += v[p] < 0.9 || v[plane + p] < 0.9;
  CHECK(non_white > 3000);
  CHECK(count_near({0, 0, 0}) > 200);  // text and ticks

  // Log scale (non-positive values are skipped), fixed ranges.
  Series s{.name = "beta", .x = {}, .y = {0.0, 1e-4, 1e-3, 1e-2, 2e-2}};
  save_line_plot(dir / "log.png", {s}, {.log_y = true});
  CHECK(load_image(dir / "log.png").shape() == Shape{3, 400, 640});
  save_line_plot(dir / "range.png", {s}, {.ymin = 0.0, .ymax = 0.01});
  CHECK_THROWS_WITH_AS(line_plot({Series{.name = "bad", .x = {1, 2}, .y = {1}}}),
                       doctest::Contains("bad"), Error);

  // Scatter: points with alpha in a fixed range; points outside it are skipped.
  Generator gen(0);
  const Tensor pts = Tensor::randn({500, 2}, {}, &gen) * 0.5;
  const Tensor far = Tensor::full({10, 2}, 100.0);
  save_scatter_plot(dir / "scatter.png", {{.name = "data", .points = pts},
                                          {.name = "far away", .points = far}},
                    {.title = "points", .width = 300, .height = 320});
  const Tensor sc = load_image(dir / "scatter.png");
  CHECK(sc.shape() == Shape{3, 320, 300});
  const auto sv = sc.to_vector<float>();
  int blueish = 0;
  for (size_t p = 0; p < 300 * 320; ++p) blueish += sv[2 * 300 * 320 + p] > sv[p] + 0.15;
  CHECK(blueish > 500);
  CHECK_THROWS_AS(scatter_plot({{.name = "x", .points = Tensor::zeros({3, 3})}}), Error);

  // The canvas and its font.
  Canvas c(60, 20);
  CHECK(Canvas::text_width("0123") > 10);
  c.text(2, 2, "Ab 12", {0, 0, 0});
  int dark = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 60; ++x) dark += c.pixel(x, y).r < 0.5;
  CHECK(dark > 15);
  CHECK_THROWS_AS(Canvas(0, 10), Error);
}
