#pragma once
// Where a tensor's storage lives. Device::cpu() always exists; Device::cuda(i) needs a
// build with CUDA and a GPU at run time (asking for one elsewhere throws kiln::Error).
// Moving data is explicit: x.to(Device::cuda()).
#include <string>

#include <fmt/format.h>

namespace kiln {

enum class DeviceType : unsigned char { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::CPU, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // "cpu", "cuda", "cuda:1"
  static Device parse(const std::string& name);

  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }
  friend constexpr bool operator==(Device a, Device b) {
    return a.type == b.type && (a.type == DeviceType::CPU || a.index == b.index);
  }
};

}  // namespace kiln

template <>
struct fmt::formatter<kiln::Device> : fmt::formatter<std::string> {
  auto format(kiln::Device d, fmt::format_context& ctx) const {
    return fmt::formatter<std::string>::format(d.str(), ctx);
  }
};
