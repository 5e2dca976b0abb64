#pragma once
// 2-D point sets: the data of the first tutorials (a diffusion model on points trains in
// seconds and its samples can be compared with the data by eye and by an exact metric).
// Every set is generated from a seed (point i from its own stream, Note [Per-item
// streams] in data/random_stream.h) and comes with its exact density.
//
// Definitions (all in the final units, roughly [-1, 1]):
//   swiss-roll    t = 1.5π(1 + 2u), u ~ U[0, 1);  x = t·(cos t, sin t) / (4.5π) + σ·z,
//                 σ = 0.025, z ~ N(0, I).  Range about [-0.7, 0.9] × [-0.8, 1.0].
//   moons         two half circles of radius 1 (sklearn's make_moons), picked with
//                 probability 1/2 each, angle θ ~ U[0, π):
//                   upper (label 0): (cos θ, sin θ),   lower (label 1): (1 - cos θ, 0.5 - sin θ),
//                 then centred and scaled, ((x - 0.5)/1.5, (y - 0.25)/1.5), plus σ·z with
//                 σ = 0.05.  Range about [-1, 1] × [-0.6, 0.6].
//   gaussians8    the mixture (1/8) Σ_k N(μ_k, s² I), μ_k = 0.8·(cos(2πk/8), sin(2πk/8)),
//                 s = 0.08 (label k).  Range about [-1, 1]²; per-axis std ≈ 0.57.
//   checkerboard  uniform on the 8 dark squares of a 4 × 4 board covering [-1, 1]²: the
//                 square in column c, row r (each 0.5 wide, counted from (-1, -1)) is
//                 dark when c + r is even (label = its index 0..7). Density 0.5 there, 0
//                 elsewhere.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace kiln::data {

enum class PointSet { SwissRoll, Moons, Gaussians8, Checkerboard };

// "swiss-roll", "moons", "gaussians8", "checkerboard" (and back); an unknown name
// throws, listing the known ones.
PointSet point_set_from_name(std::string_view name);
std::string point_set_name(PointSet set);
std::vector<std::string> point_set_names();

// n points, float32 [n, 2]. Deterministic in (set, seed); the first k points of a larger
// n are the same points. A large sample with another seed is a reference sample.
Tensor make_points(PointSet set, std::int64_t n, std::uint64_t seed = 0);
// The same as a Dataset: images = the points [n, 2]; labels = the moon, the Gaussian or
// the square each point came from (none for the swiss roll).
Dataset make_points_dataset(PointSet set, std::int64_t n, std::uint64_t seed = 0);

// log p(x) of the set's distribution at points [M, 2] (any float dtype) -> float64 [M].
// Exact for gaussians8 and checkerboard (-inf outside the dark squares); for swiss-roll
// and moons the integral over the curve parameter of the Gaussian noise kernel, by the
// midpoint rule with 4096 nodes (node spacing along the curve < 0.1 σ, so the relative
// error is far below 1e-6).
Tensor point_log_density(PointSet set, const Tensor& points);

// Parameters above, for code that wants to draw or check them.
inline constexpr double kSwissRollNoise = 0.025;
inline constexpr double kMoonsNoise = 0.05;
inline constexpr double kGaussians8Radius = 0.8;
inline constexpr double kGaussians8Std = 0.08;

}  // namespace kiln::data
