// Image files (stb_image / stb_image_write, compiled into this file only), grids and
// resizing.
#include "data/image.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

// stb's own code is not warning-clean under -Wall -Wextra; silence it here only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
// Static: the symbols stay private to this file, so kiln links cleanly into a program
// that has its own copy of stb.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace kiln::data {

namespace {

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::string*>(context);
  out->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

// Any supported layout -> contiguous float32 [H, W, C] on the CPU (C in {1, 3, 4}).
Tensor to_hwc(const Tensor& image, const char* where, const std::filesystem::path& path) {
  KILN_CHECK(image.defined(), "{}: '{}': the image tensor is undefined", where, path.string());
  Tensor t = image.detach().to(Device::cpu()).to(kFloat32);
  auto channels_ok = [](std::int64_t c) { return c == 1 || c == 3 || c == 4; };
  if (t.dim() == 4 && t.size(0) == 1) t = t.select(0, 0);
  if (t.dim() == 2) return t.unsqueeze(2).contiguous();
  KILN_CHECK(t.dim() == 3,
             "{}: '{}': cannot write a tensor of shape {} as an image (expected [C, H, W], "
             "[H, W, C] or [H, W]; use make_grid for a batch)",
             where, path.string(), shape_str(image.shape()));
  if (channels_ok(t.size(0))) return t.permute({1, 2, 0}).contiguous();
  KILN_CHECK(channels_ok(t.size(2)),
             "{}: '{}': cannot write a tensor of shape {} as an image (1, 3 or 4 channels, "
             "first or last)",
             where, path.string(), shape_str(image.shape()));
  return t.contiguous();
}

// Per output index: the source indices and weights (see resize_image).
struct Taps {
  std::vector<std::int64_t> begin;  // offsets into index/weight, size out + 1
  std::vector<std::int64_t> index;
  std::vector<double> weight;
};

Taps make_taps(std::int64_t in, std::int64_t out) {
  Taps t;
  t.begin.push_back(0);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    if (out < in) {
      // Area: output pixel o covers [o·s, (o+1)·s) of the source.
      const double lo = o * scale, hi = (o + 1) * scale;
      for (auto i = static_cast<std::int64_t>(std::floor(lo)); i < in && i < hi; ++i) {
        const double w = std::min(hi, i + 1.0) - std::max(lo, static_cast<double>(i));
        if (w <= 0) continue;
        t.index.push_back(i);
        t.weight.push_back(w / scale);
      }
    } else {
      // Bilinear (identity when in == out): centre of o maps to (o + 0.5)·s - 0.5.
      const double x = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
      const auto i0 = static_cast<std::int64_t>(std::floor(x));
      const std::int64_t i1 = std::min(i0 + 1, in - 1);
      const double f = x - static_cast<double>(i0);
      t.index.push_back(i0);
      t.weight.push_back(1 - f);
      if (f > 0 && i1 != i0) {
        t.index.push_back(i1);
        t.weight.push_back(f);
      }
    }
    t.begin.push_back(static_cast<std::int64_t>(t.index.size()));
  }
  return t;
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, const std::string& bytes,
                       const char* where) {
  // Note [Atomic saves] (nn/checkpoint.cpp): write a temporary file beside the target,
  // fsync it, rename it over the target. A failure at any step removes the temporary
  // file and leaves an existing target untouched.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp-{}-{}", path.string(), ::getpid(), counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  KILN_CHECK(fd >= 0, "{}: cannot write '{}': cannot create '{}': {}", where, path.string(),
             tmp, errno_text());
  auto abandon = [&](const char* what) {
    const std::string reason = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("{}: cannot write '{}': {} '{}': {} (the previous file, if any, is unchanged)", where,
         path.string(), what, tmp, reason);
  };
  if (!write_all(fd, bytes.data(), bytes.size())) abandon("cannot write");
  if (::fsync(fd) != 0) abandon("cannot fsync");
  if (::close(fd) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    fail("{}: cannot write '{}': cannot close '{}': {}", where, path.string(), tmp, reason);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    fail("{}: cannot rename '{}' to '{}': {} (the previous file, if any, is unchanged)", where,
         tmp, path.string(), reason);
  }
}

void save_png(const std::filesystem::path& path, const Tensor& image) {
  const Tensor hwc = to_hwc(image, "save_png", path);
  const auto h = hwc.size(0), w = hwc.size(1), c = hwc.size(2);
  KILN_CHECK(h > 0 && w > 0 && h <= (1 << 24) && w <= (1 << 24),
             "save_png: '{}': cannot write an image of {} × {} pixels", path.string(), h, w);
  const float* src = hwc.data_ptr<float>();
  std::vector<unsigned char> pixels(static_cast<size_t>(h * w * c));
  for (size_t i = 0; i < pixels.size(); ++i) {
    const float v = src[i];
    const float clipped = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
    pixels[i] = static_cast<unsigned char>(std::lround(clipped * 255.0f));
  }
  std::string bytes;
  const int ok = stbi_write_png_to_func(append_bytes, &bytes, static_cast<int>(w),
                                        static_cast<int>(h), static_cast<int>(c),
                                        pixels.data(), static_cast<int>(w * c));
  KILN_CHECK(ok != 0 && !bytes.empty(), "save_png: '{}': the PNG encoder failed",
             path.string());
  write_file_atomic(path, bytes, "save_png");
}

Tensor load_image(const std::filesystem::path& path, int channels) {
  KILN_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4,
             "load_image: '{}': channels must be 0 (as stored), 1, 3 or 4, got {}",
             path.string(), channels);
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "load_image: cannot open '{}': {}", path.string(), errno_text());
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  KILN_CHECK(!in.bad(), "load_image: cannot read '{}': {}", path.string(), errno_text());
  KILN_CHECK(!bytes.empty(), "load_image: '{}' is not an image: the file is empty",
             path.string());
  KILN_CHECK(bytes.size() < (1ull << 31), "load_image: '{}' is too large ({} bytes)",
             path.string(), bytes.size());
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, stored = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &stored))
    fail("load_image: '{}' is not an image (or not a supported format): {}", path.string(),
         stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
  const int c = channels == 0 ? stored : channels;
  stbi_uc* pixels = stbi_load_from_memory(data, len, &w, &h, &stored, c);
  if (pixels == nullptr)
    fail("load_image: cannot decode '{}' (truncated or corrupt?): {}", path.string(),
         stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
  Tensor out = Tensor::empty({c, h, w});
  float* dst = out.data_ptr<float>();
  const std::int64_t plane = static_cast<std::int64_t>(h) * w;
  for (std::int64_t p = 0; p < plane; ++p)
    for (int k = 0; k < c; ++k) dst[k * plane + p] = pixels[p * c + k] / 255.0f;
  stbi_image_free(pixels);
  return out;
}

Tensor make_grid(const Tensor& images, std::int64_t nrow, std::int64_t padding,
                 double pad_value) {
  KILN_CHECK(images.defined(), "make_grid: the images tensor is undefined");
  KILN_CHECK(images.dim() == 3 || images.dim() == 4,
             "make_grid: images must be [N, C, H, W] (or one [C, H, W]), got {}",
             shape_str(images.shape()));
  KILN_CHECK(nrow >= 1 && padding >= 0, "make_grid: nrow ({}) must be >= 1, padding ({}) >= 0",
             nrow, padding);
  Tensor t = images.detach().to(Device::cpu()).to(kFloat32);
  if (t.dim() == 3) t = t.unsqueeze(0);
  if (t.size(1) == 1) t = t.expand({-1, 3, -1, -1});  // grey -> RGB, as torchvision
  t = t.contiguous();
  const std::int64_t n = t.size(0), c = t.size(1), h = t.size(2), w = t.size(3);
  KILN_CHECK(n >= 1, "make_grid: no images (shape {})", shape_str(images.shape()));
  if (n == 1) return t.select(0, 0).clone();  // torchvision returns a single image as is
  const std::int64_t xmaps = std::min(nrow, n);
  const std::int64_t ymaps = (n + xmaps - 1) / xmaps;
  const std::int64_t cell_h = h + padding, cell_w = w + padding;
  const std::int64_t gh = ymaps * cell_h + padding, gw = xmaps * cell_w + padding;
  Tensor grid = Tensor::full({c, gh, gw}, pad_value);
  float* g = grid.data_ptr<float>();
  const float* src = t.data_ptr<float>();
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t y0 = (k / xmaps) * cell_h + padding, x0 = (k % xmaps) * cell_w + padding;
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        std::copy_n(src + ((k * c + ch) * h + y) * w, w, g + (ch * gh + y0 + y) * gw + x0);
  }
  return grid;
}

void save_grid(const std::filesystem::path& path, const Tensor& images, std::int64_t nrow,
               std::int64_t padding, double pad_value) {
  save_png(path, make_grid(images, nrow, padding, pad_value));
}

Tensor resize_image(const Tensor& image, std::int64_t out_h, std::int64_t out_w) {
  KILN_CHECK(image.defined() && image.dim() == 3,
             "resize_image: image must be [C, H, W], got {}",
             image.defined() ? shape_str(image.shape()) : std::string("undefined"));
  KILN_CHECK(out_h >= 1 && out_w >= 1, "resize_image: output size {} × {} must be positive",
             out_h, out_w);
  const Tensor src_t = image.detach().to(Device::cpu()).to(kFloat32).contiguous();
  const std::int64_t c = src_t.size(0), h = src_t.size(1), w = src_t.size(2);
  KILN_CHECK(h >= 1 && w >= 1, "resize_image: empty image {}", shape_str(image.shape()));
  const Taps tx = make_taps(w, out_w), ty = make_taps(h, out_h);
  const float* src = src_t.data_ptr<float>();
  // Horizontal pass [C, H, W] -> [C, H, out_w] in double, then vertical -> [C, out_h, out_w].
  std::vector<double> tmp(static_cast<size_t>(c * h * out_w));
  for (std::int64_t row = 0; row < c * h; ++row)
    for (std::int64_t o = 0; o < out_w; ++o) {
      double s = 0;
      for (auto k = tx.begin[o]; k < tx.begin[o + 1]; ++k) s += tx.weight[k] * src[row * w + tx.index[k]];
      tmp[row * out_w + o] = s;
    }
  Tensor out = Tensor::empty({c, out_h, out_w});
  float* dst = out.data_ptr<float>();
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t o = 0; o < out_h; ++o)
      for (std::int64_t x = 0; x < out_w; ++x) {
        double s = 0;
        for (auto k = ty.begin[o]; k < ty.begin[o + 1]; ++k)
          s += ty.weight[k] * tmp[(ch * h + ty.index[k]) * out_w + x];
        dst[(ch * out_h + o) * out_w + x] = static_cast<float>(s);
      }
  return out;
}

Tensor resize_center_crop(const Tensor& image, std::int64_t size) {
  KILN_CHECK(image.defined() && image.dim() == 3,
             "resize_center_crop: image must be [C, H, W], got {}",
             image.defined() ? shape_str(image.shape()) : std::string("undefined"));
  KILN_CHECK(size >= 1, "resize_center_crop: size {} must be positive", size);
  const std::int64_t h = image.size(1), w = image.size(2);
  std::int64_t nh = size, nw = size;
  if (h < w) nw = std::max<std::int64_t>(size, std::llround(static_cast<double>(w) * size / h));
  else nh = std::max<std::int64_t>(size, std::llround(static_cast<double>(h) * size / w));
  const Tensor r = resize_image(image, nh, nw);
  return r.narrow(1, (nh - size) / 2, size).narrow(2, (nw - size) / 2, size).contiguous();
}

}  // namespace kiln::data
