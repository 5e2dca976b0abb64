#pragma once
// kiln::data — data sets, loaders, image files and plots.
//
//   data/dataset.h  the Dataset every source returns (this file)
//   data/shapes.h   "shapes": 32×32 circles, squares and triangles, generated from a seed
//   data/points.h   2-D point sets (swiss roll, moons, 8 Gaussians, checkerboard) and
//                   their exact densities
//   data/files.h    MNIST (IDX, plain or .gz), CIFAR-10 binary batches, folders of
//                   PNG/JPEG images: files learners download themselves
//   data/loader.h   DataLoader: shuffling, batching, flips, E31 normalisation, prefetching
//   data/image.h    save_png (atomic), load_image, make_grid, resize_image
//   data/plot.h     line plots and scatter plots written to PNG (no plotting library)
//
// The data layer depends on tensor/ only (plus zlib and stb), so anything above it
// (nn, diffusion, the program, the tutorials) may use it.
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::data {

// A data set held in memory, on the CPU.
//   images  float32 [N, C, H, W] with values in [0, 1]  (image sets), or
//           float32 [N, D]                              (point sets: D = 2)
//   labels  int64 [N] in [0, classes.size()), or undefined for a set without labels
//   classes the names of the labels (may be empty when labels are plain numbers)
struct Dataset {
  std::string name;
  Tensor images;
  Tensor labels;
  std::vector<std::string> classes;

  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
  bool has_labels() const { return labels.defined(); }
  // Items [start, start + count) as views of this set (no copy).
  Dataset slice(std::int64_t start, std::int64_t count) const;
  // Throws a kiln::Error naming `where` unless images is float32 [N, ...] on the CPU
  // and labels (when defined) is int64 [N].
  void check(const char* where) const;
};

}  // namespace kiln::data
