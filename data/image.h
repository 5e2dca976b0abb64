#pragma once
// Image files and image grids. Images in kiln are float tensors [C, H, W] with values in
// [0, 1] (C = 1 grey, 3 RGB, 4 RGBA); what a network sees is normalised further (E31,
// data/loader.h) and goes back to [0, 1] before it is written.
//
// Files users keep are PNG (DESIGN.md), written atomically: the bytes go to a temporary
// file beside the target, which is then renamed over it, so an existing file is either
// replaced whole or left untouched (Note [Atomic saves] in nn/checkpoint.cpp).
#include <cstdint>
#include <filesystem>
#include <string>

#include "tensor/tensor.h"

namespace kiln::data {

// Writes an image as an 8-bit PNG. Accepted layouts (any dtype, any device):
//   [C, H, W] with C in {1, 3, 4}        (what kiln uses)
//   [H, W, C] with C in {1, 3, 4}        (when the first size is not 1, 3 or 4)
//   [H, W]                               (grey)
//   [1, C, H, W]                         (a batch of one)
// Values are clipped to [0, 1] (NaN becomes 0) and rounded to round(255 x).
// Errors name the path: bad shape, cannot create/write/rename (the previous file, if
// any, is unchanged).
void save_png(const std::filesystem::path& path, const Tensor& image);

// Decodes a PNG, JPEG, BMP, GIF (first frame), TGA or PNM file -> float32 [C, H, W] in
// [0, 1]. channels = 0 keeps the file's channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA);
// 1, 3 or 4 converts (3 drops alpha, 1 is the luminance). A missing file, or one that is
// not an image, throws naming the file and the decoder's reason.
Tensor load_image(const std::filesystem::path& path, int channels = 3);

// Images [N, C, H, W] -> one grid image [C', H', W'] like torchvision.utils.make_grid:
// nrow images per row, `padding` pixels of pad_value between and around them. One-channel
// images are repeated to three (as torchvision does). Float32 on the CPU.
Tensor make_grid(const Tensor& images, std::int64_t nrow = 8, std::int64_t padding = 2,
                 double pad_value = 0.0);
// save_png(path, make_grid(images, nrow, padding, pad_value)).
void save_grid(const std::filesystem::path& path, const Tensor& images, std::int64_t nrow = 8,
               std::int64_t padding = 2, double pad_value = 0.0);

// Resizes [C, H, W] (any float dtype, CPU) to [C, out_h, out_w], each axis on its own:
// shrinking averages the source area each output pixel covers (box filter with
// fractional edges: no aliasing), enlarging interpolates bilinearly (pixel centres at
// k + 0.5, as PyTorch's align_corners=False). Returns float32.
Tensor resize_image(const Tensor& image, std::int64_t out_h, std::int64_t out_w);
// Resizes so the shorter side is `size`, then crops the centre size × size square.
Tensor resize_center_crop(const Tensor& image, std::int64_t size);

// Writes `bytes` to `path` atomically (temporary file + fsync + rename); `where` starts
// the error messages. Used by save_png and the plots; exposed for other writers.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes,
                       const char* where);

}  // namespace kiln::data
