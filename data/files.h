#pragma once
// Loaders for data sets learners download themselves (kiln downloads nothing). Each
// returns a Dataset (data/dataset.h): images float32 [N, C, H, W] in [0, 1] (pixel / 255)
// and labels int64 [N].
//
// Every file is checked before it is trusted: a missing, truncated or malformed file
// throws a kiln::Error that names the file and what is wrong, e.g.
//   load_mnist: 'train-images-idx3-ubyte': bad magic number 0x00000801 (expected
//     0x00000803, an IDX file of unsigned bytes with 3 dimensions)
//   load_cifar10: 'data_batch_1.bin': 30725 bytes is not a whole number of 3073-byte
//     records (1 label byte + 3072 pixel bytes): truncated at byte 30725?
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace kiln::data {

// ---- MNIST (and Fashion-MNIST, KMNIST: the same IDX format) -----------------------
// http://yann.lecun.com/exdb/mnist/ : big-endian IDX files. Images: magic 0x00000803,
// then N, rows, cols (uint32 each), then N·rows·cols bytes. Labels: magic 0x00000801,
// then N, then N bytes. Plain or gzip-compressed (.gz) files are read alike (zlib).
// Returns images [N, 1, rows, cols], labels [N] (0..9), classes "0".."9".
Dataset load_mnist(const std::filesystem::path& images_file,
                   const std::filesystem::path& labels_file);
// The standard names in `dir`, plain or .gz: train-images-idx3-ubyte / train-labels-
// idx1-ubyte (train = true) or t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte.
Dataset load_mnist_dir(const std::filesystem::path& dir, bool train = true);

// An IDX file of unsigned bytes (type 0x08) of any rank: its sizes and its bytes.
struct IdxFile {
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};
IdxFile read_idx(const std::filesystem::path& file);

// Reads a whole file, decompressing it when it is gzip (zlib's gzread reads plain files
// unchanged). Throws naming the file when it is missing or the compressed data is bad.
std::string read_file_maybe_gz(const std::filesystem::path& file, const char* where);

// ---- CIFAR-10 ----------------------------------------------------------------------
// https://www.cs.toronto.edu/~kriz/cifar.html, "binary version": each file is records of
// 1 label byte (0..9) + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major
// 32×32). The official files hold 10000 records; any whole number is accepted.
// Returns images [N, 3, 32, 32], labels [N], the ten class names.
Dataset load_cifar10(const std::vector<std::filesystem::path>& batch_files);
// data_batch_1.bin .. data_batch_5.bin (train) or test_batch.bin in `dir` (the folder
// cifar-10-batches-bin of the archive).
Dataset load_cifar10_dir(const std::filesystem::path& dir, bool train = true);
const std::vector<std::string>& cifar10_classes();

// ---- a folder of images ------------------------------------------------------------
// Every PNG/JPEG/BMP/GIF/TGA file (by extension, case-insensitive, hidden files skipped)
// in `dir`, sorted by path, each resized so its shorter side is `size` (area filter when
// shrinking, bilinear when enlarging) and centre-cropped to size × size: images
// [N, channels, size, size]. When `dir` holds sub-folders, each sub-folder is a class
// (as torchvision's ImageFolder: labels by sorted folder name, classes = the names) and
// files directly in `dir` are not used; otherwise every label is 0 and classes is empty.
// A file with an image extension that does not decode throws naming it.
Dataset load_image_folder(const std::filesystem::path& dir, std::int64_t size,
                          int channels = 3);

}  // namespace kiln::data
