#include "data/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "data/image.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace kiln::data {

namespace {

constexpr Color kBlack{0, 0, 0};
constexpr Color kGrid{0.88f, 0.88f, 0.88f};
constexpr Color kFrame{0.25f, 0.25f, 0.25f};

// The quads stb_easy_font draws for `s` (x0, y0, x1, y1 in font pixels, y down).
struct Quad {
  float x0, y0, x1, y1;
};
std::vector<Quad> glyph_quads(std::string_view s) {
  std::string text(s);  // stb wants a mutable, NUL-terminated string
  std::vector<char> buffer(300 * (text.size() + 1));
  const int n = stb_easy_font_print(0, 0, text.data(), nullptr, buffer.data(),
                                    static_cast<int>(buffer.size()));
  std::vector<Quad> quads;
  for (int q = 0; q < n; ++q) {
    // 4 vertices of 16 bytes (x, y, z float; colour 4 bytes); corners 0 and 2 are opposite.
    const float* v0 = reinterpret_cast<const float*>(buffer.data() + q * 64);
    const float* v2 = reinterpret_cast<const float*>(buffer.data() + q * 64 + 32);
    quads.push_back({std::min(v0[0], v2[0]), std::min(v0[1], v2[1]), std::max(v0[0], v2[0]),
                     std::max(v0[1], v2[1])});
  }
  return quads;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < std::abs(step) * 1e-9) v = 0;
  return fmt::format("{:.6g}", v);
}

// "Nice" ticks (1, 2 or 5 times a power of ten) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target, double* step_out) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(t);
  *step_out = step;
  return ticks;
}

// The plot area and the data-to-pixel maps.
struct Frame {
  int left, top, right, bottom;  // pixels of the plot area
  double xlo, xhi, ylo, yhi;     // data range (log10 of it when log_y)
  bool log_y = false;
  double px(double x) const { return left + (x - xlo) / (xhi - xlo) * (right - left); }
  double py(double y) const {
    const double v = log_y ? std::log10(y) : y;
    return bottom - (v - ylo) / (yhi - ylo) * (bottom - top);
  }
};

void pad_range(double& lo, double& hi, double fraction) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi - lo <= std::abs(hi) * 1e-12) {  // a constant: a window around it
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d;
    hi += d;
    return;
  }
  const double d = (hi - lo) * fraction;
  lo -= d;
  hi += d;
}

// Margins for the labels, then the axes: grid, frame, ticks with numbers, labels, title.
Frame draw_axes(Canvas& c, double xlo, double xhi, double ylo, double yhi, bool log_y,
                const std::string& title, const std::string& xlabel,
                const std::string& ylabel) {
  Frame f{};
  f.xlo = xlo;
  f.xhi = xhi;
  f.log_y = log_y;
  f.ylo = log_y ? std::log10(ylo) : ylo;
  f.yhi = log_y ? std::log10(yhi) : yhi;
  const int th = Canvas::text_height();

  // y ticks first: their labels decide the left margin.
  std::vector<double> yticks;
  double ystep = 1;
  if (log_y) {
    for (double e = std::ceil(f.ylo - 1e-9); e <= f.yhi + 1e-9; e += 1) yticks.push_back(e);
    if (yticks.size() < 3) {  // less than two decades: 1, 2, 5 times each power of ten
      yticks.clear();
      for (double e = std::floor(f.ylo); e <= std::ceil(f.yhi); e += 1)
        for (double m : {1.0, 2.0, 5.0}) {
          const double v = std::log10(m) + e;
          if (v >= f.ylo - 1e-9 && v <= f.yhi + 1e-9) yticks.push_back(v);
        }
    }
    ystep = 0;
  } else {
    yticks = nice_ticks(f.ylo, f.yhi, std::max(3, c.height() / 60), &ystep);
  }
  std::vector<std::string> ylabels;
  int label_w = 0;
  for (double t : yticks) {
    ylabels.push_back(log_y ? fmt::format("{:.6g}", std::pow(10.0, t)) : tick_label(t, ystep));
    label_w = std::max(label_w, Canvas::text_width(ylabels.back()));
  }
  f.left = 10 + label_w + 6 + (ylabel.empty() ? 0 : th + 8);
  f.right = c.width() - 16;
  f.top = title.empty() ? 12 : 14 + 2 * th + 8;
  f.bottom = c.height() - (8 + th + 8 + (xlabel.empty() ? 0 : th + 8));
  KILN_CHECK(f.right - f.left >= 20 && f.bottom - f.top >= 20,
             "plot: a canvas of {} × {} pixels is too small for the axes and labels", c.width(),
             c.height());

  double xstep = 1;
  const std::vector<double> xticks = nice_ticks(xlo, xhi, std::max(3, c.width() / 90), &xstep);
  // Grid.
  for (double t : xticks) {
    const int x = static_cast<int>(std::lround(f.px(t)));
    c.fill_rect(x, f.top, x + 1, f.bottom, kGrid);
  }
  for (double t : yticks) {
    const int y = static_cast<int>(std::lround(f.py(log_y ? std::pow(10.0, t) : t)));
    c.fill_rect(f.left, y, f.right, y + 1, kGrid);
  }
  // Ticks and their numbers.
  for (double t : xticks) {
    const int x = static_cast<int>(std::lround(f.px(t)));
    c.fill_rect(x, f.bottom, x + 1, f.bottom + 5, kFrame);
    const std::string s = tick_label(t, xstep);
    c.text(x - Canvas::text_width(s) / 2, f.bottom + 8, s, kBlack);
  }
  for (size_t i = 0; i < yticks.size(); ++i) {
    const int y = static_cast<int>(std::lround(f.py(log_y ? std::pow(10.0, yticks[i]) : yticks[i])));
    c.fill_rect(f.left - 5, y, f.left, y + 1, kFrame);
    c.text(f.left - 8 - Canvas::text_width(ylabels[i]), y - th / 2, ylabels[i], kBlack);
  }
  c.rect(f.left, f.top, f.right, f.bottom, kFrame);
  // Labels and title.
  if (!xlabel.empty())
    c.text((f.left + f.right - Canvas::text_width(xlabel)) / 2, f.bottom + 8 + th + 8, xlabel,
           kBlack);
  if (!ylabel.empty())
    c.text(8, (f.top + f.bottom + Canvas::text_width(ylabel)) / 2, ylabel, kBlack, 1, true);
  if (!title.empty())
    c.text((f.left + f.right - Canvas::text_width(title, 2)) / 2, 10, title, kBlack, 2);
  return f;
}

void draw_legend(Canvas& c, const Frame& f, const std::vector<std::pair<std::string, Color>>& items,
                 bool dots) {
  if (items.empty()) return;
  int w = 0;
  for (const auto& [name, color] : items) w = std::max(w, Canvas::text_width(name));
  const int row = Canvas::text_height() + 7;
  const int box_w = w + 36, box_h = static_cast<int>(items.size()) * row + 8;
  const int x0 = f.right - box_w - 8, y0 = f.top + 8;
  c.fill_rect(x0, y0, x0 + box_w, y0 + box_h, {1, 1, 1}, 0.88f);
  c.rect(x0, y0, x0 + box_w, y0 + box_h, {0.6f, 0.6f, 0.6f});
  for (size_t i = 0; i < items.size(); ++i) {
    const int y = y0 + 4 + static_cast<int>(i) * row + row / 2;
    if (dots) c.disc(x0 + 15, y, 3.5, items[i].second);
    else c.line(x0 + 6, y, x0 + 24, y, items[i].second, 2.5);
    c.text(x0 + 30, y - Canvas::text_height() / 2, items[i].first, kBlack);
  }
}

}  // namespace

Color palette(std::int64_t i) {
  static constexpr Color kTab10[10] = {
      {0.122f, 0.467f, 0.706f}, {1.000f, 0.498f, 0.055f}, {0.173f, 0.627f, 0.173f},
      {0.839f, 0.153f, 0.157f}, {0.580f, 0.404f, 0.741f}, {0.549f, 0.337f, 0.294f},
      {0.890f, 0.467f, 0.761f}, {0.498f, 0.498f, 0.498f}, {0.737f, 0.741f, 0.133f},
      {0.090f, 0.745f, 0.812f}};
  return kTab10[((i % 10) + 10) % 10];
}

// ---- Canvas ------------------------------------------------------------------------------

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  KILN_CHECK(width >= 1 && height >= 1 && width <= 16384 && height <= 16384,
             "Canvas: size {} × {} is not in [1, 16384]", width, height);
  rgb_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

Color Canvas::pixel(int x, int y) const {
  KILN_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_,
             "Canvas::pixel: ({}, {}) is outside {} × {}", x, y, width_, height_);
  const float* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::blend(int x, int y, Color c, float alpha) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_ || !(alpha > 0)) return;
  alpha = std::min(alpha, 1.0f);
  float* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  p[0] += (c.r - p[0]) * alpha;
  p[1] += (c.g - p[1]) * alpha;
  p[2] += (c.b - p[2]) * alpha;
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Color c, float alpha) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, width_);
  y1 = std::min(y1, height_);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) blend(x, y, c, alpha);
}

void Canvas::rect(int x0, int y0, int x1, int y1, Color c) {
  fill_rect(x0, y0, x1 + 1, y0 + 1, c);
  fill_rect(x0, y1, x1 + 1, y1 + 1, c);
  fill_rect(x0, y0, x0 + 1, y1 + 1, c);
  fill_rect(x1, y0, x1 + 1, y1 + 1, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Color c, double thickness,
                  float alpha) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1))
    return;
  // Coverage of a pixel = how far its centre lies inside the band of half-width t/2
  // around the segment, with a one-pixel ramp (cheap anti-aliasing).
  const double r = thickness / 2 + 0.5;
  const int xa = std::max(0, static_cast<int>(std::floor(std::min(x0, x1) - r)));
  const int xb = std::min(width_ - 1, static_cast<int>(std::ceil(std::max(x0, x1) + r)));
  const int ya = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - r)));
  const int yb = std::min(height_ - 1, static_cast<int>(std::ceil(std::max(y0, y1) + r)));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = ya; y <= yb; ++y)
    for (int x = xa; x <= xb; ++x) {
      const double px = x + 0.5 - x0, py = y + 0.5 - y0;
      const double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
      const double d = std::hypot(px - t * dx, py - t * dy);
      const double cover = std::clamp(r - d, 0.0, 1.0);
      if (cover > 0) blend(x, y, c, static_cast<float>(cover) * alpha);
    }
}

void Canvas::disc(double cx, double cy, double radius, Color c, float alpha) {
  if (!std::isfinite(cx) || !std::isfinite(cy)) return;
  const int xa = static_cast<int>(std::floor(cx - radius - 1));
  const int xb = static_cast<int>(std::ceil(cx + radius + 1));
  const int ya = static_cast<int>(std::floor(cy - radius - 1));
  const int yb = static_cast<int>(std::ceil(cy + radius + 1));
  for (int y = std::max(ya, 0); y <= std::min(yb, height_ - 1); ++y)
    for (int x = std::max(xa, 0); x <= std::min(xb, width_ - 1); ++x) {
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      const double cover = std::clamp(radius + 0.5 - d, 0.0, 1.0);
      if (cover > 0) blend(x, y, c, static_cast<float>(cover) * alpha);
    }
}

void Canvas::text(int x, int y, std::string_view s, Color c, int scale, bool vertical) {
  for (const Quad& q : glyph_quads(s)) {
    const int gx0 = static_cast<int>(std::lround(q.x0 * scale));
    const int gx1 = static_cast<int>(std::lround(q.x1 * scale));
    const int gy0 = static_cast<int>(std::lround(q.y0 * scale));
    const int gy1 = static_cast<int>(std::lround(q.y1 * scale));
    if (vertical) fill_rect(x + gy0, y - gx1, x + gy1, y - gx0, c);
    else fill_rect(x + gx0, y + gy0, x + gx1, y + gy1, c);
  }
}

int Canvas::text_width(std::string_view s, int scale) {
  std::string text(s);
  return stb_easy_font_width(text.data()) * scale;
}

int Canvas::text_height(int scale) { return 7 * scale; }

Tensor Canvas::to_tensor() const {
  Tensor out = Tensor::empty({3, height_, width_});
  float* d = out.data_ptr<float>();
  const size_t plane = static_cast<size_t>(width_) * height_;
  for (size_t p = 0; p < plane; ++p)
    for (int k = 0; k < 3; ++k) d[k * plane + p] = rgb_[p * 3 + k];
  return out;
}

void Canvas::save_png(const std::filesystem::path& path) const {
  data::save_png(path, to_tensor());
}

// ---- line plots ------------------------------------------------------------------------

Canvas line_plot(const std::vector<Series>& series, const LinePlotOptions& o) {
  Canvas c(o.width, o.height);
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0);
  };
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const Series& s : series) {
    KILN_CHECK(s.x.empty() || s.x.size() == s.y.size(),
               "line_plot: series '{}' has {} x values but {} y values", s.name, s.x.size(),
               s.y.size());
    for (size_t i = 0; i < s.y.size(); ++i) {
      const double x = s.x.empty() ? static_cast<double>(i) : s.x[i];
      if (!usable(x, s.y[i])) continue;
      xlo = std::min(xlo, x);
      xhi = std::max(xhi, x);
      ylo = std::min(ylo, s.y[i]);
      yhi = std::max(yhi, s.y[i]);
    }
  }
  if (o.log_y) {
    if (!std::isfinite(ylo)) ylo = 0.1, yhi = 10;
    double l = std::log10(ylo), h = std::log10(yhi);
    pad_range(l, h, 0.04);
    ylo = std::pow(10.0, l);
    yhi = std::pow(10.0, h);
  } else {
    pad_range(ylo, yhi, 0.04);
  }
  pad_range(xlo, xhi, 0.02);
  xlo = o.xmin.value_or(xlo);
  xhi = o.xmax.value_or(xhi);
  ylo = o.ymin.value_or(ylo);
  yhi = o.ymax.value_or(yhi);
  KILN_CHECK(xlo < xhi && ylo < yhi && (!o.log_y || ylo > 0),
             "line_plot: empty axis range x [{}, {}], y [{}, {}]", xlo, xhi, ylo, yhi);
  const Frame f = draw_axes(c, xlo, xhi, ylo, yhi, o.log_y, o.title, o.xlabel, o.ylabel);

  // The series: segments between consecutive usable points; a segment that leaves the
  // plot area (a fixed, smaller range) is not drawn, an isolated point becomes a dot.
  auto in_area = [&](double px, double py) {
    return px >= f.left - 0.5 && px <= f.right + 0.5 && py >= f.top - 0.5 && py <= f.bottom + 0.5;
  };
  std::vector<std::pair<std::string, Color>> legend;
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const Color col = s.color.value_or(palette(static_cast<std::int64_t>(k)));
    if (!s.name.empty()) legend.emplace_back(s.name, col);
    const size_t n = s.y.size();
    std::vector<char> ok(n);
    std::vector<double> px(n), py(n);
    for (size_t i = 0; i < n; ++i) {
      const double x = s.x.empty() ? static_cast<double>(i) : s.x[i];
      ok[i] = usable(x, s.y[i]);
      if (ok[i]) {
        px[i] = f.px(x);
        py[i] = f.py(s.y[i]);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i]) continue;
      const bool prev = i > 0 && ok[i - 1], next = i + 1 < n && ok[i + 1];
      if (prev && in_area(px[i - 1], py[i - 1]) && in_area(px[i], py[i]))
        c.line(px[i - 1], py[i - 1], px[i], py[i], col, 1.8);
      if (!prev && !next && in_area(px[i], py[i])) c.disc(px[i], py[i], 2.0, col);
    }
  }
  draw_legend(c, f, legend, false);
  return c;
}

void save_line_plot(const std::filesystem::path& path, const std::vector<Series>& series,
                    const LinePlotOptions& options) {
  line_plot(series, options).save_png(path);
}

// ---- scatter plots ---------------------------------------------------------------------

Canvas scatter_plot(const std::vector<ScatterSeries>& series, const ScatterOptions& o) {
  KILN_CHECK(o.xmin < o.xmax && o.ymin < o.ymax,
             "scatter_plot: empty axis range x [{}, {}], y [{}, {}]", o.xmin, o.xmax, o.ymin,
             o.ymax);
  Canvas c(o.width, o.height);
  const Frame f = draw_axes(c, o.xmin, o.xmax, o.ymin, o.ymax, false, o.title, "", "");
  std::vector<std::pair<std::string, Color>> legend;
  for (size_t k = 0; k < series.size(); ++k) {
    const ScatterSeries& s = series[k];
    KILN_CHECK(s.points.defined() && s.points.dim() == 2 && s.points.size(1) == 2,
               "scatter_plot: series '{}' must be points [N, 2], got {}", s.name,
               s.points.defined() ? shape_str(s.points.shape()) : std::string("undefined"));
    const Color col = s.color.value_or(palette(static_cast<std::int64_t>(k)));
    if (!s.name.empty()) legend.emplace_back(s.name, col);
    const std::vector<double> p = s.points.to_vector<double>();
    for (size_t i = 0; i + 1 < p.size(); i += 2) {
      if (!(p[i] >= o.xmin && p[i] <= o.xmax && p[i + 1] >= o.ymin && p[i + 1] <= o.ymax))
        continue;  // outside the fixed range (or NaN)
      c.disc(f.px(p[i]), f.py(p[i + 1]), o.point_radius, col, o.alpha);
    }
  }
  c.rect(f.left, f.top, f.right, f.bottom, kFrame);  // points may have covered the frame
  draw_legend(c, f, legend, true);
  return c;
}

void save_scatter_plot(const std::filesystem::path& path,
                       const std::vector<ScatterSeries>& series, const ScatterOptions& options) {
  scatter_plot(series, options).save_png(path);
}

}  // namespace kiln::data
