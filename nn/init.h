#pragma once
// Weight initialisation, torch.nn.init's functions and formulas. Each fills `tensor` in
// place (no autograd) and returns it; `gen` picks the random stream (default: the
// global generator, seeded by kiln::manual_seed).
//
// fan_in / fan_out of a weight [out, in, k...]:   fan_in = in·Πk,  fan_out = out·Πk.
//   kaiming_uniform_  U(-b, b),  b = gain·√(3/fan),       gain = calculate_gain(nl, a)
//   kaiming_normal_   N(0, σ²),  σ = gain/√fan
//   xavier_uniform_   U(-b, b),  b = gain·√(6/(fan_in + fan_out))
//   xavier_normal_    N(0, σ²),  σ = gain·√(2/(fan_in + fan_out))
// PyTorch's default for Linear and Conv2d weights is kaiming_uniform_ with a = √5
// (LeakyReLU gain √(2/(1+a²)) = √(1/3)), which works out to b = 1/√fan_in.
#include <cstdint>
#include <utility>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Conv2d, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

// torch.nn.init.calculate_gain: Linear/Conv2d/Sigmoid 1, Tanh 5/3, ReLU √2,
// LeakyReLU √(2/(1+slope²)) (param = negative slope), SELU 3/4.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
// {fan_in, fan_out} of a tensor with at least 2 dims.
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(Tensor tensor, double low = 0, double high = 1, Generator* gen = nullptr);
Tensor normal_(Tensor tensor, double mean = 0, double std = 1, Generator* gen = nullptr);
Tensor constant_(Tensor tensor, double value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

// Defaults as torch: a = 0, fan_in, leaky_relu.
Tensor kaiming_uniform_(Tensor tensor, double a = 0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU,
                        Generator* gen = nullptr);
Tensor kaiming_normal_(Tensor tensor, double a = 0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU,
                       Generator* gen = nullptr);
Tensor xavier_uniform_(Tensor tensor, double gain = 1, Generator* gen = nullptr);
Tensor xavier_normal_(Tensor tensor, double gain = 1, Generator* gen = nullptr);

}  // namespace kiln::nn::init
