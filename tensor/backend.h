#pragma once
// The backend interface: what a device must supply.
//
// The CPU backend lives in tensor/cpu/ (templates over the scalar type on raw
// pointers); the CUDA backend in cuda/ implements the same names in kiln::cuda. With
// CUDA off, cuda/no_cuda.cpp supplies every kiln::cuda function as a stub that throws
// "<name> has no CUDA build". Ops (autograd/ops/) switch on the device and call
//   cpu::<kernel>   or   cuda::<kernel>.
//
// Kernel families (file stems match across tensor/cpu/, cuda/ and autograd/ops/):
//   memory        allocate / deallocate / copies between host and device   (below)
//   elementwise   unary, binary, where, clamp, copy (strided, with casts), fill
//   reduce        reduce (sum/max/min over the last axis of [outer, inner]),
//                 arg_reduce, softmax_forward/backward, log_softmax_forward/backward
//   gemm          gemm (row-major, optional transposes)
//   index         gather, scatter_add, index_select, index_add
//   random        philox_uniform, philox_normal, philox_randint
#include <cstddef>
#include <string>

#include "tensor/cpu/elementwise.h"

namespace kiln::cuda {

// ---- device discovery -----------------------------------------------------------
bool is_available();   // built with CUDA and at least one usable GPU and driver
int device_count();    // 0 when not available
std::string device_name(int index);
bool built_with_cuda();

// ---- memory ---------------------------------------------------------------------
void* allocate(std::size_t nbytes, int device);
void deallocate(void* ptr, std::size_t nbytes, int device);
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);

}  // namespace kiln::cuda
