#include "nn/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <charconv>
#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"

namespace kiln::nn {

namespace {

using json = nlohmann::ordered_json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the Python library's limit

const char* safetensors_dtype(DType dt) {
  switch (dt) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::Float32;
  else if (s == "F64") out = DType::Float64;
  else if (s == "I64") out = DType::Int64;
  else return false;
  return true;
}

// The file holds little-endian bytes; on a big-endian host every element is reversed.
void to_little_endian(char* data, std::size_t nbytes, std::size_t item) {
  if constexpr (std::endian::native == std::endian::little) {
    (void)data, (void)nbytes, (void)item;
  } else {
    for (std::size_t i = 0; i + item <= nbytes; i += item) std::reverse(data + i, data + i + item);
  }
}

// ---- writing ----------------------------------------------------------------------

std::string errno_text() { return std::strerror(errno); }

// Writes all of [data, data + n) to fd, retrying short writes and EINTR.
bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string where = fmt::format("save_safetensors: '{}'", path.string());
  NoGradGuard no_grad;

  // The header, and the host copies in the order their bytes follow.
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<Tensor> host;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    KILN_CHECK(name != "__metadata__", "{}: '__metadata__' cannot name a tensor", where);
    KILN_CHECK(t.defined(), "{}: tensor '{}' is undefined", where, name);
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    const std::uint64_t nbytes = static_cast<std::uint64_t>(h.numel()) * itemsize(h.dtype());
    header[name] = {{"dtype", safetensors_dtype(h.dtype())},
                    {"shape", h.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    host.push_back(std::move(h));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  char length[8];
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xff);

  // Note [Atomic saves]
  const std::string tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  KILN_CHECK(fd >= 0, "{}: cannot create '{}': {}", where, tmp, errno_text());
  auto abandon = [&](const std::string& what) {
    const std::string reason = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("{}: {} '{}': {} (the previous file, if any, is unchanged)", where, what, tmp, reason);
  };
  if (!write_all(fd, length, 8) || !write_all(fd, text.data(), text.size()))
    abandon("cannot write");
  std::vector<char> swapped;
  for (const auto& h : host) {
    const std::size_t nbytes = static_cast<std::size_t>(h.numel()) * itemsize(h.dtype());
    const char* data = static_cast<const char*>(h.raw_data());
    if constexpr (std::endian::native != std::endian::little) {
      swapped.assign(data, data + nbytes);
      to_little_endian(swapped.data(), nbytes, itemsize(h.dtype()));
      data = swapped.data();
    }
    if (!write_all(fd, data, nbytes)) abandon("cannot write");
  }
  if (::fsync(fd) != 0) abandon("cannot fsync");
  if (::close(fd) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    fail("{}: cannot close '{}': {}", where, tmp, reason);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(tmp.c_str());
    fail("{}: cannot rename '{}' to '{}': {}", where, tmp, path.string(), reason);
  }
  // Make the rename itself durable (best effort: not every file system allows it).
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// ---- reading ----------------------------------------------------------------------

namespace {

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin, end;
};

std::uint64_t as_offset(const json& v, const std::string& where, const std::string& name) {
  KILN_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0),
             "{}: malformed header: tensor '{}' has a data offset {} that is not a "
             "non-negative integer",
             where, name, v.dump());
  return v.get<std::uint64_t>();
}

Entry parse_entry(const std::string& name, const json& e, const std::string& where) {
  KILN_CHECK(e.is_object(), "{}: malformed header: entry '{}' is not an object", where, name);
  KILN_CHECK(e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
             "{}: malformed header: tensor '{}' needs dtype, shape and data_offsets", where,
             name);
  Entry out;
  out.name = name;
  const json& dt = e["dtype"];
  KILN_CHECK(dt.is_string(), "{}: malformed header: tensor '{}' has a dtype that is not a string",
             where, name);
  KILN_CHECK(parse_dtype(dt.get<std::string>(), out.dtype),
             "{}: tensor '{}' has dtype '{}', which kiln does not read (F32, F64, I64)", where,
             name, dt.get<std::string>());
  const json& shape = e["shape"];
  KILN_CHECK(shape.is_array(), "{}: malformed header: tensor '{}' has a shape that is not a list",
             where, name);
  std::uint64_t numel = 1;
  for (const json& s : shape) {
    KILN_CHECK(s.is_number_integer() && s.get<std::int64_t>() >= 0,
               "{}: malformed header: tensor '{}' has shape {} (sizes must be non-negative "
               "integers)",
               where, name, shape.dump());
    const auto size = s.get<std::uint64_t>();
    KILN_CHECK(!__builtin_mul_overflow(numel, size, &numel) && numel < (1ull << 62),
               "{}: malformed header: tensor '{}' has shape {}, too large", where, name,
               shape.dump());
    out.shape.push_back(static_cast<std::int64_t>(size));
  }
  const json& offsets = e["data_offsets"];
  KILN_CHECK(offsets.is_array() && offsets.size() == 2,
             "{}: malformed header: tensor '{}' has data_offsets {} (expected [begin, end])", where,
             name, offsets.dump());
  out.begin = as_offset(offsets[0], where, name);
  out.end = as_offset(offsets[1], where, name);
  KILN_CHECK(out.begin <= out.end,
             "{}: malformed header: tensor '{}' has data_offsets [{}, {}] with end before begin",
             where, name, out.begin, out.end);
  const std::uint64_t need = numel * itemsize(out.dtype);
  KILN_CHECK(out.end - out.begin == need,
             "{}: malformed header: tensor '{}' ({} {}) needs {} bytes but its data_offsets "
             "[{}, {}] hold {}",
             where, name, dt.get<std::string>(), shape_str(out.shape), need, out.begin, out.end,
             out.end - out.begin);
  return out;
}

}  // namespace

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const std::string where = fmt::format("load_safetensors: '{}'", path.string());
  std::error_code ec;
  KILN_CHECK(std::filesystem::exists(path, ec), "{}: no such file", where);
  KILN_CHECK(std::filesystem::is_regular_file(path, ec), "{}: not a regular file", where);
  const std::uint64_t file_size = std::filesystem::file_size(path, ec);
  KILN_CHECK(!ec, "{}: cannot read its size: {}", where, ec.message());
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open: {}", where, errno_text());

  KILN_CHECK(file_size >= 8,
             "{}: truncated: {} bytes, too short for the 8-byte header length", where,
             file_size);
  unsigned char length[8];
  in.read(reinterpret_cast<char*>(length), 8);
  KILN_CHECK(in.good(), "{}: cannot read the header length", where);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(length[i]) << (8 * i);
  KILN_CHECK(n <= file_size - 8,
             "{}: truncated: the header is {} bytes but only {} bytes follow the length", where,
             n, file_size - 8);
  KILN_CHECK(n <= kMaxHeaderBytes, "{}: malformed: a header of {} bytes (limit {})", where, n,
             kMaxHeaderBytes);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  KILN_CHECK(in.good(), "{}: cannot read the {}-byte header", where, n);

  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    fail("{}: malformed header: not valid JSON ({})", where, e.what());
  }
  KILN_CHECK(header.is_object(), "{}: malformed header: a JSON {} instead of an object", where,
             header.type_name());

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      KILN_CHECK(value.is_object() || value.is_null(),
                 "{}: malformed header: __metadata__ is not an object", where);
      if (value.is_null()) continue;
      for (const auto& [mk, mv] : value.items()) {
        KILN_CHECK(mv.is_string(), "{}: malformed header: metadata '{}' is not a string", where,
                   mk);
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, where));
  }

  // The tensors must tile the data section exactly.
  const std::uint64_t data_size = file_size - 8 - n;
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : order) {
    KILN_CHECK(e->end <= data_size,
               "{}: truncated: tensor '{}' occupies bytes [{}, {}) of the data section, which "
               "has only {} bytes",
               where, e->name, e->begin, e->end, data_size);
    KILN_CHECK(e->begin >= covered,
               "{}: malformed header: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", where,
               previous ? previous->name : "", previous ? previous->begin : 0, covered, e->name,
               e->begin, e->end);
    KILN_CHECK(e->begin == covered,
               "{}: malformed header: bytes [{}, {}) of the data section belong to no tensor",
               where, covered, e->begin);
    covered = e->end;
    previous = e;
  }
  KILN_CHECK(covered == data_size,
             "{}: malformed: {} bytes after the last tensor (the data section has {} bytes, the "
             "tensors cover {})",
             where, data_size - covered, data_size, covered);

  for (const auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, {.dtype = e.dtype});
    const std::uint64_t nbytes = e.end - e.begin;
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(nbytes));
      KILN_CHECK(in.good(), "{}: cannot read the data of tensor '{}'", where, e.name);
      to_little_endian(static_cast<char*>(t.raw_data()), nbytes, itemsize(e.dtype));
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

// ---- Checkpoint -------------------------------------------------------------------

namespace {

constexpr const char* kStepKey = "kiln.step";
constexpr const char* kSeedKey = "kiln.rng_seed";
constexpr const char* kOffsetKey = "kiln.rng_offset";
constexpr const char* kFormatKey = "kiln.format";
constexpr const char* kFormat = "kiln-checkpoint-1";

void add_prefixed(std::map<std::string, Tensor>& out, const std::string& prefix,
                  const OrderedDict<Tensor>& dict) {
  for (const auto& [name, t] : dict) out.emplace(prefix + name, t);
}

template <class U>
bool parse_integer(const std::string& s, U& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

void Checkpoint::save(const std::filesystem::path& path, std::int64_t step,
                      const std::map<std::string, std::string>& metadata) const {
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : metadata) {
    KILN_CHECK(k.rfind("kiln.", 0) != 0,
               "Checkpoint.save: metadata key '{}' uses the reserved prefix 'kiln.'", k);
    meta[k] = v;
  }
  meta[kFormatKey] = kFormat;
  meta[kStepKey] = std::to_string(step);
  if (generator) {
    const Generator::State s = generator->state();
    meta[kSeedKey] = std::to_string(s.seed);
    meta[kOffsetKey] = std::to_string(s.offset);
  }
  std::map<std::string, Tensor> tensors;
  if (model) add_prefixed(tensors, "model.", model->state_dict());
  if (optimizer) add_prefixed(tensors, "optim.", optimizer->state_dict());
  if (ema) add_prefixed(tensors, "ema.", ema->state_dict());
  save_safetensors(path, tensors, meta);
}

Checkpoint::Loaded Checkpoint::load(const std::filesystem::path& path) const {
  SafetensorsFile file = load_safetensors(path);
  const std::string where = fmt::format("Checkpoint.load: '{}'", path.string());

  OrderedDict<Tensor> parts[3];
  const char* prefixes[3] = {"model.", "optim.", "ema."};
  std::vector<std::string> stray;
  for (const auto& [name, t] : file.tensors) {
    bool placed = false;
    for (int i = 0; i < 3; ++i) {
      const std::string prefix = prefixes[i];
      if (name.rfind(prefix, 0) == 0) {
        parts[i].insert(name.substr(prefix.size()), t);
        placed = true;
        break;
      }
    }
    if (!placed) stray.push_back(name);
  }

  // Check everything before changing anything.
  std::vector<std::string> problems;
  auto meta = [&](const char* key) -> const std::string* {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? nullptr : &it->second;
  };
  Loaded loaded;
  if (const std::string* s = meta(kStepKey); !s) {
    problems.push_back("no 'kiln.step' in the metadata (not a kiln checkpoint)");
  } else if (!parse_integer(*s, loaded.step)) {
    problems.push_back(fmt::format("kiln.step '{}' is not an integer", *s));
  }
  if (!stray.empty()) {
    std::string names;
    for (const auto& n : stray) names += (names.empty() ? "" : ", ") + n;
    problems.push_back("tensors outside model./optim./ema.: " + names);
  }
  auto check_part = [&](const char* label, int i, const OrderedDict<Tensor>& expected) {
    if (parts[i].empty()) {
      problems.push_back(fmt::format("{}: the file holds no '{}' tensors", label, prefixes[i]));
      return;
    }
    const std::string diff = compare_state_dicts(expected, parts[i]);
    if (!diff.empty()) problems.push_back(fmt::format("{}: {}", label, diff));
  };
  if (model) check_part("model", 0, model->state_dict());
  if (optimizer) check_part("optim", 1, optimizer->state_dict());
  if (ema) check_part("ema", 2, ema->state_dict());
  Generator::State rng{};
  if (generator) {
    const std::string* seed = meta(kSeedKey);
    const std::string* offset = meta(kOffsetKey);
    if (!seed || !offset || !parse_integer(*seed, rng.seed) || !parse_integer(*offset, rng.offset))
      problems.push_back("no valid generator state (kiln.rng_seed, kiln.rng_offset)");
  }
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    fail("{}: {}", where, all);
  }

  if (model) model->load_state_dict(parts[0]);
  if (optimizer) optimizer->load_state_dict(parts[1]);
  if (ema) ema->load_state_dict(parts[2]);
  if (generator) generator->set_state(rng);
  for (const auto& [k, v] : file.metadata)
    if (k.rfind("kiln.", 0) != 0) loaded.metadata[k] = v;
  return loaded;
}

}  // namespace kiln::nn
