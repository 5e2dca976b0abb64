// Chapter 5: layers. A 3x3 convolution two ways -- the direct seven-deep loop and
// im2col + GEMM (what kiln::conv2d does) -- timed and compared; then what GroupNorm and
// self-attention do to their inputs, measured.
#include <vector>

#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;

// [region direct_conv]
// out[n, co, y, x] = Σ_{ci, ky, kx} w[co, ci, ky, kx] · in[n, ci, y + ky - 1, x + kx - 1]
// (3x3 kernel, padding 1, stride 1; zero outside the image)
std::vector<float> conv3x3_direct(const std::vector<float>& in, const std::vector<float>& w,
                                  int N, int C, int H, int W, int CO) {
  std::vector<float> out(static_cast<size_t>(N) * CO * H * W, 0.0f);
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < CO; ++co)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          float sum = 0;
          for (int ci = 0; ci < C; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = y + ky - 1, ix = x + kx - 1;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                sum += w[((co * C + ci) * 3 + ky) * 3 + kx] * in[((n * C + ci) * H + iy) * W + ix];
              }
          out[((n * CO + co) * H + y) * W + x] = sum;
        }
  return out;
}
// [endregion]

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 5: convolution, norms, attention");
  return tutorial::run([&] {
    Generator gen(5);
    const int N = args.quick ? 2 : 8, C = 32, H = args.quick ? 8 : 32, W = H, CO = 32;
    const Tensor x = Tensor::randn({N, C, H, W}, {}, &gen);
    const Tensor w = Tensor::randn({CO, C, 3, 3}, {}, &gen) * 0.06;
    const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>();
    std::vector<float> direct;
    Tensor im2col;
    const double budget = args.quick ? 0.05 : 0.3;
    const double t_direct = tutorial::seconds_per_call([&] { direct = conv3x3_direct(xv, wv, N, C, H, W, CO); }, budget);
    const double t_gemm = tutorial::seconds_per_call([&] { im2col = conv2d(x, w, Tensor(), {1, 1}, {1, 1}); }, budget);
    const Tensor direct_t = Tensor::from_vector(direct, {N, CO, H, W});
    const double diff = amax(abs(direct_t - im2col)).item();
    const double flops = 2.0 * N * CO * H * W * C * 9;
    std::string table = fmt::format(
        "| {} x {} x {} x {} input, 3x3, {} output channels | time | GFLOP/s |\n|---|---|---|\n", N, C,
        H, W, CO);
    table += fmt::format("| direct loops, one thread | {:.2f} ms | {:.1f} |\n", t_direct * 1e3, flops / t_direct / 1e9);
    table += fmt::format("| im2col + GEMM (`conv2d`) | {:.2f} ms | {:.1f} |\n", t_gemm * 1e3, flops / t_gemm / 1e9);
    table += fmt::format("| largest difference | {:.2g} | |\n", diff);
    KILN_CHECK(diff < 1e-3, "the two convolutions disagree by {}", diff);

    // GroupNorm: every (sample, group) comes out with mean 0 and variance 1.
    const Tensor shifted = x * 3.0 + 2.0;
    const Tensor y = group_norm(shifted, 8);
    const Tensor groups = y.reshape({N, 8, -1});
    const double worst_mean = amax(abs(groups.mean({2}))).item();
    const double worst_var = amax(abs(groups.square().mean({2}) - 1.0)).item();
    table += fmt::format("| GroupNorm(8 groups) of 3x + 2: worst group mean, worst variance - 1 | {:.1e}, {:.1e} | |\n",
                         worst_mean, worst_var);

    // Self-attention: each of the H·W positions takes a softmax-weighted mix of all.
    nn::MultiheadAttention attn(C, 1);
    const Tensor seq = x.reshape({N, C, H * W}).transpose(1, 2);  // [N, HW, C]
    const Tensor scores = seq.matmul(seq.transpose(1, 2)) / std::sqrt(double(C));
    const Tensor weights = scores.softmax(-1);
    const double rows = amax(abs(weights.sum({-1}) - 1.0)).item();
    table += fmt::format("| attention weights over {} keys: worst row sum - 1 | {:.1e} | |\n", H * W, rows);
    const Tensor out = attn.forward(seq, seq, seq);
    table += fmt::format("| `nn::MultiheadAttention` output shape | {} | |\n", shape_str(out.shape()));
    fmt::print("{}", table);
    args.write("ch05-layers.md", table);
  });
}
