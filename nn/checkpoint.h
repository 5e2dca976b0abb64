#pragma once
// Checkpoints in the .safetensors format (https://github.com/huggingface/safetensors),
// loadable by the Python `safetensors` package:
//
//   bytes 0..8      N, the header length, an unsigned 64-bit little-endian integer
//   bytes 8..8+N    a JSON object, padded with spaces so that 8 + N is a multiple of 8:
//                     {"__metadata__": {"key": "value", ...},
//                      "fc1.weight": {"dtype": "F32", "shape": [16, 2],
//                                     "data_offsets": [0, 128]}, ...}
//   bytes 8+N..     the data section: each tensor's elements, row-major, little-endian,
//                   at [begin, end) relative to the start of the section. The tensors
//                   tile the section exactly: no gaps, no overlaps, nothing after.
//
// kiln reads and writes the dtypes F32, F64 and I64.
//
// Note [Atomic saves]
// save_safetensors writes `<path>.tmp-<pid>`, fsyncs it, and renames it over `path`.
// rename is atomic on POSIX file systems, so a reader (or a crash) sees either the old
// file or the complete new one; a file that existed before is never left half-written.
// On any failure the temporary file is removed and an Error is thrown.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::nn {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // CPU tensors
  std::map<std::string, std::string> metadata;
};

// Writes the tensors (from any device; copied to the host) and the string metadata to
// `path` atomically (Note [Atomic saves]).
void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Reads a .safetensors file. Every failure is an Error naming the file and what is
// wrong: a missing file, a truncated file, a header that is not JSON, an unknown dtype,
// data_offsets that do not match the shape, run past the data, overlap, leave gaps.
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// A training checkpoint: model, optimizer, EMA, step and random-generator state in one
// .safetensors file. The tensors are stored under the prefixes
//   "model."  model.state_dict()       "optim."  optimizer.state_dict()
//   "ema."    ema.state_dict()
// and the step and generator state as metadata ("kiln.step", "kiln.rng_seed",
// "kiln.rng_offset"). Any pointer may be null: that part is neither saved nor loaded.
//
//   nn::Checkpoint ckpt{.model = model.get(), .optimizer = &opt, .ema = &ema,
//                       .generator = &gen};
//   ckpt.save("run/last.safetensors", step);
//   ...
//   std::int64_t step = ckpt.load("run/last.safetensors").step;
struct Checkpoint {
  Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  EMA* ema = nullptr;
  Generator* generator = nullptr;

  // Saves the attached parts; `metadata` adds user strings (keys must not start "kiln.").
  void save(const std::filesystem::path& path, std::int64_t step,
            const std::map<std::string, std::string>& metadata = {}) const;

  struct Loaded {
    std::int64_t step = 0;
    std::map<std::string, std::string> metadata;  // the user's strings
  };
  // Restores every attached part. Before changing anything it checks every part's
  // names, shapes and dtypes against the file and throws one Error that lists all
  // differences ("model: missing keys: fc2.bias; shape of fc1.weight: [8, 2] in the dict
  // vs [16, 2] expected"). Parts in the file with nothing attached are ignored.
  Loaded load(const std::filesystem::path& path) const;
};

}  // namespace kiln::nn
