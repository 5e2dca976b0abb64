#pragma once
// E30  EMA of weights:  θ_ema ← m θ_ema + (1 - m) θ
//      \theta_{\mathrm{ema}} \leftarrow m\,\theta_{\mathrm{ema}} + (1-m)\,\theta
//
// Diffusion models are sampled from an exponential moving average of their weights, not
// from the weights of the last step: the average smooths the noise of the stochastic
// gradient, which matters because every sampling step reuses the network. The update
// itself is nn::EMA (nn/ema.h); this header names the decays the two sources use.
#include "nn/ema.h"

namespace kiln::diffusion {

using nn::EMA;

// m of E30 in Ho et al. (the ddpm-* configs): an average over ~10,000 steps.
inline constexpr double kEmaDecayHo = 0.9999;
// m of E30 in the Keras chapter (keras-unet64): an average over ~1,000 steps.
inline constexpr double kEmaDecayKeras = 0.999;

}  // namespace kiln::diffusion
