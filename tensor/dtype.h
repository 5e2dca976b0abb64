#pragma once
// The three element types kiln knows:
//   float32  training,
//   float64  gradient checks and derivation checks,
//   int64    indices, timesteps, labels.
// Kernels are templates over the scalar type; `dispatch` turns a runtime DType into
// a compile-time one:  dispatch(dt, "exp", [&]<class T>() { kernel<T>(...); });
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tensor/error.h"

namespace kiln {

enum class DType : std::uint8_t { Float32, Float64, Int64 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;

constexpr std::size_t itemsize(DType dt) { return dt == DType::Float32 ? 4 : 8; }

constexpr std::string_view dtype_name(DType dt) {
  switch (dt) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "?";
}

constexpr bool is_floating(DType dt) { return dt != DType::Int64; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::Int64; }

// Calls fn.template operator()<T>() with T the C++ type of `dt`.
template <class Fn>
decltype(auto) dispatch(DType dt, Fn&& fn) {
  switch (dt) {
    case DType::Float32: return fn.template operator()<float>();
    case DType::Float64: return fn.template operator()<double>();
    case DType::Int64: return fn.template operator()<std::int64_t>();
  }
  fail("dispatch: unknown dtype");
}

// Same, for ops defined on floating types only; `op` names the op in the error.
template <class Fn>
decltype(auto) dispatch_floating(DType dt, std::string_view op, Fn&& fn) {
  switch (dt) {
    case DType::Float32: return fn.template operator()<float>();
    case DType::Float64: return fn.template operator()<double>();
    case DType::Int64: break;
  }
  fail("{}: expects a floating dtype (float32 or float64), got {}", op, dtype_name(dt));
}

}  // namespace kiln

template <>
struct fmt::formatter<kiln::DType> : fmt::formatter<std::string_view> {
  auto format(kiln::DType dt, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(kiln::dtype_name(dt), ctx);
  }
};
