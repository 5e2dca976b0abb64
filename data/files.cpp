#include "data/files.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "data/image.h"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

std::uint32_t big_endian_u32(const std::string& b, size_t at) {
  return (std::uint32_t(std::uint8_t(b[at])) << 24) | (std::uint32_t(std::uint8_t(b[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(b[at + 2])) << 8) | std::uint32_t(std::uint8_t(b[at + 3]));
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool is_image_extension(const fs::path& p) {
  static const char* const kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga"};
  const std::string e = lower(p.extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* k) { return e == k; });
}

// `name` or `name.gz` in dir (the first that exists).
fs::path plain_or_gz(const fs::path& dir, const std::string& name, const char* where) {
  const fs::path plain = dir / name, gz = dir / (name + ".gz");
  if (fs::exists(plain)) return plain;
  if (fs::exists(gz)) return gz;
  fail("{}: neither '{}' nor '{}' exists", where, plain.string(), gz.string());
}

}  // namespace

std::string read_file_maybe_gz(const fs::path& file, const char* where) {
  std::error_code ec;
  KILN_CHECK(fs::exists(file, ec), "{}: '{}' does not exist", where, file.string());
  KILN_CHECK(!fs::is_directory(file, ec), "{}: '{}' is a directory, not a file", where,
             file.string());
  gzFile gz = gzopen(file.c_str(), "rb");
  KILN_CHECK(gz != nullptr, "{}: cannot open '{}': {}", where, file.string(),
             errno ? std::strerror(errno) : "out of memory");
  gzbuffer(gz, 1 << 17);
  std::string out;
  char chunk[1 << 16];
  for (;;) {
    const int n = gzread(gz, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(gz, &code);
      const auto at = out.size();
      gzclose(gz);
      fail("{}: '{}' is corrupt: {} (after {} decompressed bytes)", where, file.string(),
           code == Z_ERRNO ? std::string(std::strerror(errno)) : msg, at);
    }
    if (n == 0) break;
    out.append(chunk, static_cast<size_t>(n));
  }
  // gzread returns what it could decompress from a cut-off .gz; zlib flags that as
  // Z_BUF_ERROR ("unexpected end of file").
  int code = Z_OK;
  const std::string msg = gzerror(gz, &code);
  gzclose(gz);
  KILN_CHECK(code == Z_OK || code == Z_STREAM_END,
             "{}: '{}' is corrupt or truncated: {} (after {} decompressed bytes)", where,
             file.string(), msg, out.size());
  return out;
}

IdxFile read_idx(const fs::path& file) {
  const std::string b = read_file_maybe_gz(file, "read_idx");
  const std::string name = file.string();
  KILN_CHECK(b.size() >= 4, "read_idx: '{}' is truncated at byte {}: an IDX file starts with "
             "a 4-byte magic number", name, b.size());
  const std::uint32_t magic = big_endian_u32(b, 0);
  const std::uint32_t type = (magic >> 8) & 0xff, rank = magic & 0xff;
  KILN_CHECK((magic >> 16) == 0 && rank >= 1 && rank <= 8,
             "read_idx: '{}': bad magic number 0x{:08x} (an IDX file starts 0x0000TTDD, TT "
             "the type, DD the number of dimensions)", name, magic);
  KILN_CHECK(type == 0x08,
             "read_idx: '{}': IDX element type 0x{:02x} is not supported (only 0x08, unsigned "
             "bytes)", name, type);
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  KILN_CHECK(b.size() >= header, "read_idx: '{}' is truncated at byte {}: the header of {} "
             "dimensions needs {} bytes", name, b.size(), rank, header);
  IdxFile out;
  std::uint64_t count = 1;
  for (std::uint32_t d = 0; d < rank; ++d) {
    const std::uint32_t s = big_endian_u32(b, 4 + 4 * d);
    out.shape.push_back(s);
    count *= s;
    KILN_CHECK(count < (1ull << 40), "read_idx: '{}': sizes {} are implausibly large", name,
               fmt::join(out.shape, " × "));
  }
  const std::uint64_t expected = header + count;
  KILN_CHECK(b.size() >= expected,
             "read_idx: '{}' is truncated at byte {}: sizes {} need {} bytes", name, b.size(),
             fmt::join(out.shape, " × "), expected);
  KILN_CHECK(b.size() == expected,
             "read_idx: '{}': size mismatch: sizes {} need {} bytes, the file has {} ({} extra)",
             name, fmt::join(out.shape, " × "), expected, b.size(), b.size() - expected);
  out.bytes.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return out;
}

Dataset load_mnist(const fs::path& images_file, const fs::path& labels_file) {
  auto idx = [](const fs::path& f, std::uint32_t want_rank, const char* what) {
    try {
      IdxFile r = read_idx(f);
      KILN_CHECK(r.shape.size() == want_rank,
                 "'{}': bad magic number 0x{:08x} (expected 0x{:08x}, an IDX file of unsigned "
                 "bytes with {} dimensions, for {})",
                 f.string(), 0x800u | static_cast<unsigned>(r.shape.size()), 0x800u | want_rank,
                 want_rank, what);
      return r;
    } catch (const Error& e) {
      std::string m = e.what();
      if (m.rfind("read_idx: ", 0) == 0) m = m.substr(10);
      throw Error("load_mnist: " + m);
    }
  };
  const IdxFile im = idx(images_file, 3, "images");
  const IdxFile lb = idx(labels_file, 1, "labels");
  KILN_CHECK(im.shape[0] == lb.shape[0],
             "load_mnist: '{}' holds {} images but '{}' holds {} labels", images_file.string(),
             im.shape[0], labels_file.string(), lb.shape[0]);
  const std::int64_t n = im.shape[0], h = im.shape[1], w = im.shape[2];
  Dataset out;
  out.name = "mnist";
  for (int k = 0; k < 10; ++k) out.classes.push_back(std::to_string(k));
  out.images = Tensor::empty({n, 1, h, w});
  float* dst = out.images.data_ptr<float>();
  for (size_t i = 0; i < im.bytes.size(); ++i) dst[i] = im.bytes[i] / 255.0f;
  out.labels = Tensor::empty({n}, {.dtype = kInt64});
  std::int64_t* l = out.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    KILN_CHECK(lb.bytes[i] <= 9, "load_mnist: '{}': label {} of item {} is not a digit 0..9",
               labels_file.string(), int(lb.bytes[i]), i);
    l[i] = lb.bytes[i];
  }
  return out;
}

Dataset load_mnist_dir(const fs::path& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  // Images first, so a folder missing both names the images file.
  const fs::path images = plain_or_gz(dir, prefix + "-images-idx3-ubyte", "load_mnist_dir");
  const fs::path labels = plain_or_gz(dir, prefix + "-labels-idx1-ubyte", "load_mnist_dir");
  return load_mnist(images, labels);
}

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> k{"airplane", "automobile", "bird", "cat", "deer",
                                          "dog",      "frog",       "horse", "ship", "truck"};
  return k;
}

Dataset load_cifar10(const std::vector<fs::path>& files) {
  constexpr std::int64_t kRecord = 1 + 3 * 32 * 32;
  KILN_CHECK(!files.empty(), "load_cifar10: no batch files given");
  std::vector<std::string> contents;
  std::int64_t n = 0;
  for (const auto& f : files) {
    std::string b = read_file_maybe_gz(f, "load_cifar10");
    const auto size = static_cast<std::int64_t>(b.size());
    KILN_CHECK(size > 0, "load_cifar10: '{}' is empty", f.string());
    KILN_CHECK(size % kRecord == 0,
               "load_cifar10: '{}': {} bytes is not a whole number of {}-byte records (1 label "
               "byte + 3072 pixel bytes): truncated at byte {}? (the last record has {} of {} "
               "bytes)",
               f.string(), size, kRecord, size, size % kRecord, kRecord);
    for (std::int64_t r = 0; r < size / kRecord; ++r) {
      const auto label = static_cast<std::uint8_t>(b[static_cast<size_t>(r * kRecord)]);
      KILN_CHECK(label <= 9,
                 "load_cifar10: '{}': record {} (byte {}) has label {}, not a class 0..9: not a "
                 "CIFAR-10 binary batch?",
                 f.string(), r, r * kRecord, int(label));
    }
    n += size / kRecord;
    contents.push_back(std::move(b));
  }
  Dataset out;
  out.name = "cifar10";
  out.classes = cifar10_classes();
  out.images = Tensor::empty({n, 3, 32, 32});
  out.labels = Tensor::empty({n}, {.dtype = kInt64});
  float* img = out.images.data_ptr<float>();
  std::int64_t* lab = out.labels.data_ptr<std::int64_t>();
  std::int64_t i = 0;
  for (const auto& b : contents) {
    for (size_t r = 0; r < b.size(); r += kRecord, ++i) {
      lab[i] = static_cast<std::uint8_t>(b[r]);
      for (std::int64_t k = 0; k < kRecord - 1; ++k)
        img[i * (kRecord - 1) + k] = static_cast<std::uint8_t>(b[r + 1 + k]) / 255.0f;
    }
  }
  return out;
}

Dataset load_cifar10_dir(const fs::path& dir, bool train) {
  std::vector<fs::path> files;
  if (train) {
    for (int k = 1; k <= 5; ++k) files.push_back(dir / fmt::format("data_batch_{}.bin", k));
  } else {
    files.push_back(dir / "test_batch.bin");
  }
  return load_cifar10(files);
}

Dataset load_image_folder(const fs::path& dir, std::int64_t size, int channels) {
  KILN_CHECK(size >= 1, "load_image_folder: size {} must be positive", size);
  KILN_CHECK(channels == 1 || channels == 3 || channels == 4,
             "load_image_folder: channels must be 1, 3 or 4, got {}", channels);
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "load_image_folder: '{}' is not a directory{}",
             dir.string(), fs::exists(dir, ec) ? "" : " (it does not exist)");
  auto hidden = [](const fs::path& p) { return p.filename().string().starts_with("."); };
  auto images_in = [&](const fs::path& d) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file() && !hidden(e.path()) && is_image_extension(e.path()))
        out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && !hidden(e.path())) classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());

  Dataset out;
  out.name = dir.filename().empty() ? dir.parent_path().filename().string()
                                    : dir.filename().string();
  std::vector<std::pair<fs::path, std::int64_t>> files;
  if (classes.empty()) {
    for (auto& p : images_in(dir)) files.emplace_back(p, 0);
  } else {
    for (size_t c = 0; c < classes.size(); ++c) {
      out.classes.push_back(classes[c].filename().string());
      for (auto& p : images_in(classes[c])) files.emplace_back(p, static_cast<std::int64_t>(c));
    }
  }
  KILN_CHECK(!files.empty(), "load_image_folder: '{}' holds no PNG/JPEG/BMP/GIF/TGA images",
             dir.string());
  const auto n = static_cast<std::int64_t>(files.size());
  out.images = Tensor::empty({n, channels, size, size});
  out.labels = Tensor::empty({n}, {.dtype = kInt64});
  float* dst = out.images.data_ptr<float>();
  const std::int64_t per = channels * size * size;
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor img;
    try {
      img = resize_center_crop(load_image(files[i].first, channels), size);
    } catch (const Error& e) {
      throw Error(fmt::format("load_image_folder: {}", e.what()));
    }
    std::copy_n(img.data_ptr<float>(), per, dst + i * per);
    out.labels.data_ptr<std::int64_t>()[i] = files[i].second;
  }
  return out;
}

}  // namespace kiln::data
