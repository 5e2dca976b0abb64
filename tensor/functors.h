#pragma once
// The formulas of the element-wise ops, written once for the CPU and the GPU.
//
// Note [One formula, two devices]
// Each op is a tiny struct with a KILN_HD operator(). The CPU kernels in
// tensor/cpu/elementwise.cpp and the CUDA kernels in cuda/elementwise.cu both
// instantiate these same structs, so the two backends cannot disagree on a formula.
// Only C math functions that exist in host libm and in CUDA device code are used
// (expf/exp, log1pf/log1p, erff/erf, ...), through the overloads below.
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#ifndef KILN_HD
#ifdef __CUDACC__
#define KILN_HD __host__ __device__
#else
#define KILN_HD
#endif
#endif

namespace kiln::math {

// Note [A vectorisable expf]
// glibc's expf is a function call the compiler cannot turn into SIMD code, so every
// element-wise loop calling it ran one float at a time: SiLU's forward and backward took
// 104 of the 440 ms of a ddpm-small training step (bench/unet_step); with the version
// below, 52 of 380 (forward 51 -> 16 ms, backward 54 -> 36 ms). On the host, float
// exp is therefore computed here, in plain arithmetic that `#pragma omp simd` vectorises
// (16 floats per AVX-512 instruction), the classic Cody-Waite scheme:
//   n = round(x / ln 2),  r = x - n ln 2  (|r| <= ln2/2; ln 2 split in two parts so that
//   n·ln2_hi is exact),  e^r ≈ 1 + r + r²·P(r)  (Cephes' degree-5 P),  e^x = e^r · 2^n,
// 2^n built from its exponent bits in two factors so that n from -159 to 128 stays
// representable: results below 2^-126 come out as subnormals, above 2^128 as inf.
// At most 1 ulp from the correctly rounded value over the float range (measured in
// tests/tensor/math_test.cpp, which demands 2). CUDA keeps its own expf.
namespace detail {
inline float pow2i(int n) {  // 2^n for n in [-126, 127], from the exponent bits
  return std::bit_cast<float>(static_cast<unsigned>(n + 127) << 23);
}
inline float expf_vectorisable(float x) {
  // Clamped so that n stays in [-159, 128]; a NaN passes both comparisons untouched.
  const float xc = x > 89.0f ? 89.0f : (x < -110.0f ? -110.0f : x);
  // Adding 1.5·2^23 rounds x·log2(e) to an integer held in the sum's low bits: n as a
  // float and as an int, without floorf or a float-to-int conversion (neither vectorises).
  constexpr float kRound = 12582912.0f;
  const float shifted = xc * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  const int ni = std::bit_cast<int>(shifted) - std::bit_cast<int>(kRound);
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;  // NaN for a NaN x, whatever ni holds
  const int half = ni >> 1;
  return er * pow2i(half) * pow2i(ni - half);
}
}  // namespace detail

// float/double overloads of the C math library that compile on host and device.
#ifdef __CUDA_ARCH__
KILN_HD inline float exp(float x) { return ::expf(x); }
#else
KILN_HD inline float exp(float x) { return detail::expf_vectorisable(x); }
#endif
KILN_HD inline double exp(double x) { return ::exp(x); }
KILN_HD inline float log(float x) { return ::logf(x); }
KILN_HD inline double log(double x) { return ::log(x); }
KILN_HD inline float log1p(float x) { return ::log1pf(x); }
KILN_HD inline double log1p(double x) { return ::log1p(x); }
KILN_HD inline float expm1(float x) { return ::expm1f(x); }
KILN_HD inline double expm1(double x) { return ::expm1(x); }
KILN_HD inline float sqrt(float x) { return ::sqrtf(x); }
KILN_HD inline double sqrt(double x) { return ::sqrt(x); }
KILN_HD inline float sin(float x) { return ::sinf(x); }
KILN_HD inline double sin(double x) { return ::sin(x); }
KILN_HD inline float cos(float x) { return ::cosf(x); }
KILN_HD inline double cos(double x) { return ::cos(x); }
KILN_HD inline float tanh(float x) { return ::tanhf(x); }
KILN_HD inline double tanh(double x) { return ::tanh(x); }
KILN_HD inline float erf(float x) { return ::erff(x); }
KILN_HD inline double erf(double x) { return ::erf(x); }
KILN_HD inline float pow(float x, float y) { return ::powf(x, y); }
KILN_HD inline double pow(double x, double y) { return ::pow(x, y); }
KILN_HD inline std::int64_t pow(std::int64_t x, std::int64_t y) {
  std::int64_t r = 1;
  for (std::int64_t i = 0; i < y; ++i) r *= x;
  return r;
}

}  // namespace kiln::math

namespace kiln {

// X-macro lists: each entry is (EnumName, "op name"). They generate the op enums, the
// names used in errors, and the enum -> functor switches of both backends.
#define KILN_UNARY_OPS(X)                   \
  X(Neg, "neg") X(Exp, "exp") X(Log, "log") \
  X(Log1p, "log1p") X(Expm1, "expm1")       \
  X(Sqrt, "sqrt") X(Rsqrt, "rsqrt")         \
  X(Abs, "abs") X(Sign, "sign")             \
  X(Sin, "sin") X(Cos, "cos")               \
  X(Tanh, "tanh") X(Sigmoid, "sigmoid")     \
  X(Silu, "silu") X(Gelu, "gelu")           \
  X(Relu, "relu") X(Erf, "erf")             \
  X(Square, "square") X(Reciprocal, "reciprocal")

#define KILN_BINARY_OPS(X)                                          \
  X(Add, "add") X(Sub, "sub") X(Mul, "mul") X(Div, "div")           \
  X(Pow, "pow") X(Maximum, "maximum") X(Minimum, "minimum")         \
  X(Eq, "eq") X(Ne, "ne") X(Lt, "lt") X(Le, "le") X(Gt, "gt") X(Ge, "ge") \
  X(SiluBackward, "silu_backward")

#define KILN_ENUM_ENTRY(name, str) name,
enum class UnaryOp { KILN_UNARY_OPS(KILN_ENUM_ENTRY) };
enum class BinaryOp { KILN_BINARY_OPS(KILN_ENUM_ENTRY) };
#undef KILN_ENUM_ENTRY

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);
// Ops that only make sense on floating types (exp, sigmoid, ...); int64 is refused.
bool is_floating_only(UnaryOp op);

namespace fn {

// ---- unary ----------------------------------------------------------------------
struct Neg { template <class T> KILN_HD T operator()(T x) const { return -x; } };
struct Exp { template <class T> KILN_HD T operator()(T x) const { return math::exp(x); } };
struct Log { template <class T> KILN_HD T operator()(T x) const { return math::log(x); } };
struct Log1p { template <class T> KILN_HD T operator()(T x) const { return math::log1p(x); } };
struct Expm1 { template <class T> KILN_HD T operator()(T x) const { return math::expm1(x); } };
struct Sqrt { template <class T> KILN_HD T operator()(T x) const { return math::sqrt(x); } };
struct Rsqrt {
  template <class T> KILN_HD T operator()(T x) const { return T(1) / math::sqrt(x); }
};
struct Abs { template <class T> KILN_HD T operator()(T x) const { return x < T(0) ? -x : x; } };
struct Sign {
  template <class T> KILN_HD T operator()(T x) const { return T((x > T(0)) - (x < T(0))); }
};
struct Sin { template <class T> KILN_HD T operator()(T x) const { return math::sin(x); } };
struct Cos { template <class T> KILN_HD T operator()(T x) const { return math::cos(x); } };
struct Tanh { template <class T> KILN_HD T operator()(T x) const { return math::tanh(x); } };
// 1/(1+e^-x) overflows e^-x for very negative x; e^{-|x|} never does.
// [region silu_functor]
// Written without a branch (both sides are cheap) so that loops over it vectorise.
struct Sigmoid {
  template <class T> KILN_HD T operator()(T x) const {
    const T e = math::exp(x < T(0) ? x : -x);  // e^{-|x|} <= 1
    const T inv = T(1) / (T(1) + e);
    return x < T(0) ? e * inv : inv;
  }
};
struct Silu { template <class T> KILN_HD T operator()(T x) const { return x * Sigmoid{}(x); } };
// [endregion]
// The exact GELU, x Φ(x), as PyTorch's default (approximate='none').
struct Gelu {
  template <class T> KILN_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + math::erf(x * T(0.70710678118654752440)));
  }
};
struct Relu { template <class T> KILN_HD T operator()(T x) const { return x > T(0) ? x : T(0); } };
struct Erf { template <class T> KILN_HD T operator()(T x) const { return math::erf(x); } };
struct Square { template <class T> KILN_HD T operator()(T x) const { return x * x; } };
struct Reciprocal { template <class T> KILN_HD T operator()(T x) const { return T(1) / x; } };

// ---- binary ---------------------------------------------------------------------
struct Add { template <class T> KILN_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> KILN_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> KILN_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> KILN_HD T operator()(T a, T b) const { return a / b; } };
struct Pow { template <class T> KILN_HD T operator()(T a, T b) const { return math::pow(a, b); } };
// NaN propagates, as in torch.maximum.
struct Maximum {
  template <class T> KILN_HD T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
struct Minimum {
  template <class T> KILN_HD T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
struct Eq { template <class T> KILN_HD T operator()(T a, T b) const { return T(a == b); } };
struct Ne { template <class T> KILN_HD T operator()(T a, T b) const { return T(a != b); } };
struct Lt { template <class T> KILN_HD T operator()(T a, T b) const { return T(a < b); } };
struct Le { template <class T> KILN_HD T operator()(T a, T b) const { return T(a <= b); } };
struct Gt { template <class T> KILN_HD T operator()(T a, T b) const { return T(a > b); } };
struct Ge { template <class T> KILN_HD T operator()(T a, T b) const { return T(a >= b); } };
// SiLU's backward in one pass, g · dsilu(x)/dx = g σ(x)(1 + x(1 - σ(x))), for the
// common case of a backward that records no graph (autograd/ops/elementwise.cpp).
// The int64 branch only satisfies the compiler: silu refuses integer tensors.
struct SiluBackward {
  template <class T> KILN_HD T operator()(T g, T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      const T s = Sigmoid{}(x);
      return g * s * (T(1) + x * (T(1) - s));
    } else {
      return T(0);
    }
  }
};

}  // namespace fn

// [region functor_switch]
// Calls f(functor) with the functor struct of `op`: the one enum -> formula switch.
template <class F>
KILN_HD decltype(auto) with_unary_functor(UnaryOp op, F&& f) {
  switch (op) {
#define KILN_CASE(name, str) \
  case UnaryOp::name: return f(fn::name{});
    KILN_UNARY_OPS(KILN_CASE)
#undef KILN_CASE
  }
  return f(fn::Neg{});
}
// [endregion]

template <class F>
KILN_HD decltype(auto) with_binary_functor(BinaryOp op, F&& f) {
  switch (op) {
#define KILN_CASE(name, str) \
  case BinaryOp::name: return f(fn::name{});
    KILN_BINARY_OPS(KILN_CASE)
#undef KILN_CASE
  }
  return f(fn::Add{});
}

}  // namespace kiln
