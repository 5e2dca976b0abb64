#pragma once
// Plots written straight to PNG, with no plotting library: a Canvas (an RGB pixel
// buffer with anti-aliased lines and discs, rectangles and text in stb_easy_font's tiny
// built-in bitmap font), and on top of it
//   save_line_plot     several named series against x (loss curves, schedules): axes,
//                      ticks with numbers, grid, legend, distinct colours, optional log y;
//   save_scatter_plot  2-D points with alpha over a fixed axis range (data vs samples).
// Clear and readable, not fancy. Files are written atomically (data/image.h).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::data {

struct Color {
  float r = 0, g = 0, b = 0;  // in [0, 1]
};
// The ten colours of matplotlib's "tab10" cycle (blue, orange, green, red, ...), cycled.
Color palette(std::int64_t i);

class Canvas {
 public:
  Canvas(int width, int height, Color background = {1, 1, 1});

  int width() const { return width_; }
  int height() const { return height_; }
  Color pixel(int x, int y) const;

  // Mixes c into pixel (x, y) with weight alpha (ignored outside the canvas).
  void blend(int x, int y, Color c, float alpha = 1);
  // Pixels [x0, x1) × [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Color c, float alpha = 1);
  // Outline of [x0, x1] × [y0, y1], one pixel wide.
  void rect(int x0, int y0, int x1, int y1, Color c);
  // Anti-aliased segment between points in pixel coordinates (pixel k spans [k, k+1)).
  void line(double x0, double y0, double x1, double y1, Color c, double thickness = 1.5,
            float alpha = 1);
  // Anti-aliased filled disc.
  void disc(double cx, double cy, double radius, Color c, float alpha = 1);
  // Text with its top-left corner at (x, y); `scale` enlarges each font pixel. Vertical
  // text reads bottom to top, (x, y) being then its bottom-left corner.
  void text(int x, int y, std::string_view s, Color c = {}, int scale = 1,
            bool vertical = false);
  static int text_width(std::string_view s, int scale = 1);
  static int text_height(int scale = 1);  // of one line, without descenders

  Tensor to_tensor() const;  // float32 [3, H, W]
  void save_png(const std::filesystem::path& path) const;

 private:
  int width_, height_;
  std::vector<float> rgb_;  // [H, W, 3]
};

// ---- line plots ------------------------------------------------------------------------
struct Series {
  std::string name{};        // shown in the legend (none when every name is empty)
  std::vector<double> x{};   // empty: 0, 1, 2, ...
  std::vector<double> y{};   // non-finite values (and y <= 0 with log_y) break the line
  std::optional<Color> color{};  // default: palette(index of the series)
};

struct LinePlotOptions {
  std::string title{}, xlabel{}, ylabel{};
  int width = 640, height = 400;
  bool log_y = false;
  std::optional<double> xmin{}, xmax{}, ymin{}, ymax{};  // default: the data's range, padded 4%
};

Canvas line_plot(const std::vector<Series>& series, const LinePlotOptions& options = {});
void save_line_plot(const std::filesystem::path& path, const std::vector<Series>& series,
                    const LinePlotOptions& options = {});

// ---- scatter plots ---------------------------------------------------------------------
struct ScatterSeries {
  std::string name{};
  Tensor points{};  // [N, 2], any float dtype and device
  std::optional<Color> color{};
};

struct ScatterOptions {
  std::string title{};
  int width = 480, height = 480;
  double xmin = -1.5, xmax = 1.5, ymin = -1.5, ymax = 1.5;  // fixed: comparable plots
  float alpha = 0.35f;        // opacity of one point
  double point_radius = 1.5;  // pixels
};

Canvas scatter_plot(const std::vector<ScatterSeries>& series, const ScatterOptions& options = {});
void save_scatter_plot(const std::filesystem::path& path,
                       const std::vector<ScatterSeries>& series,
                       const ScatterOptions& options = {});

}  // namespace kiln::data
