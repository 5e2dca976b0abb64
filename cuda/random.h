#pragma once
// CUDA Philox draws: the same names and contracts as the CPU draws of tensor/random.h,
// into device buffers. Thread j computes block j of the stream with the functions of
// tensor/philox.h that the CPU loop calls, so uniform and integer draws are bit-identical
// to the CPU's and normal draws agree to the accuracy of logf/sinf/cosf (Note [Philox
// stream layout]).
#include <cstdint>

namespace kiln::cuda {

template <class T>  // float, double
void philox_uniform(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n, T low,
                    T high);
template <class T>  // float, double
void philox_normal(std::uint64_t seed, std::uint64_t offset, T* out, std::int64_t n, T mean,
                   T stddev);
void philox_randint(std::uint64_t seed, std::uint64_t offset, std::int64_t* out, std::int64_t n,
                    std::int64_t low, std::int64_t high);

}  // namespace kiln::cuda
