// Indexing and joining ops (autograd/ops/index.h): values against hand-written loops in
// float64 (contiguous, permuted and sliced inputs), views sharing storage, the errors
// that name the op and the shapes, and gradient checks (first and second order).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "kiln.h"

using namespace kiln;
using autograd::gradcheck;

namespace {

using V = const std::vector<Tensor>&;

// Row-major multi-index <-> linear index.
std::vector<std::int64_t> unravel(std::int64_t linear, const Shape& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = linear % shape[d];
    linear /= shape[d];
  }
  return idx;
}

std::int64_t ravel(const std::vector<std::int64_t>& idx, const Shape& shape) {
  std::int64_t linear = 0;
  for (size_t d = 0; d < shape.size(); ++d) linear = linear * shape[d] + idx[d];
  return linear;
}

Tensor randn64(const Shape& shape, Generator& gen) {
  return Tensor::randn(shape, {.dtype = kFloat64}, &gen);
}

// The three layouts every value test runs on: 0 contiguous, 1 permuted (same logical
// shape, reversed strides), 2 sliced (every other element of the last dim).
Tensor make_layout(const Shape& shape, int variant, Generator& gen) {
  if (variant == 1 && shape.size() >= 2) {
    Shape rev(shape.rbegin(), shape.rend());
    std::vector<std::int64_t> order;
    for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d)
      order.push_back(d);
    return randn64(rev, gen).permute(order);
  }
  if (variant == 2 && !shape.empty() && shape.back() > 0) {
    Shape wide = shape;
    wide.back() *= 2;
    return randn64(wide, gen).slice(-1, 0, wide.back(), 2);
  }
  return randn64(shape, gen);
}

Tensor leaf(Tensor x) {
  x = x.detach();
  x.requires_grad_(true);
  return x;
}

Tensor int_tensor(const std::vector<std::int64_t>& values, const Shape& shape) {
  return Tensor::from_vector(values, shape, {.dtype = kInt64});
}

// Element-wise comparison that reports the number of mismatches and the first one.
void check_close(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= 1e-12 * std::max(1.0, std::abs(want[i]))) continue;
    if (bad++ == 0) first = i;
  }
  INFO(bad, " of ", got.size(), " elements differ; first at ", first, ": got ",
       bad ? got[first] : 0.0, ", want ", bad ? want[first] : 0.0);
  CHECK(bad == 0);
}

void check_grad(const char* name, const autograd::GradcheckFn& f, const std::vector<Tensor>& in) {
  const auto r = gradcheck(f, in);
  INFO(name, ": ", r.message);
  CHECK(r.ok);
}

}  // namespace

// ---- gather / scatter_add -------------------------------------------------------------

TEST_CASE("index: gather matches a loop on every dim and layout") {
  Generator gen(1);
  const Shape xshape = {4, 5, 6};
  for (int variant = 0; variant < 3; ++variant) {
    for (std::int64_t d = 0; d < 3; ++d) {
      const Tensor x = make_layout(xshape, variant, gen);
      // index: larger than x along d, smaller elsewhere (torch allows both).
      Shape ishape = {3, 4, 5};
      ishape[d] = 7;
      const Tensor index = Tensor::randint(0, xshape[d], ishape, {.dtype = kInt64}, &gen);
      const Tensor out = gather(x, d, index);
      REQUIRE(out.shape() == ishape);
      const auto xv = x.to_vector<double>();
      const auto iv = index.to_vector<std::int64_t>();
      std::vector<double> want(iv.size());
      for (std::int64_t p = 0; p < static_cast<std::int64_t>(iv.size()); ++p) {
        auto q = unravel(p, ishape);
        q[d] = iv[p];
        want[p] = xv[ravel(q, xshape)];
      }
      INFO("variant ", variant, " dim ", d);
      check_close(out.to_vector<double>(), want);
      // The method and a negative dim agree.
      CHECK(x.gather(d - 3, index).to_vector<double>() == out.to_vector<double>());
    }
  }
}

TEST_CASE("index: gather with a non-contiguous index, other dtypes, a 0-d input") {
  Tensor x = Tensor::arange(0, 12, 1, {.dtype = kInt64}).view({3, 4});
  // index.t() is a transposed view: [[0, 2], [1, 3], [3, 0]] read column-major.
  const Tensor base_idx = int_tensor({0, 1, 3, 2, 3, 0}, {2, 3});
  const Tensor idx = base_idx.t();
  REQUIRE(!idx.is_contiguous());
  CHECK(x.gather(1, idx).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2, 5, 7, 11, 8});
  const Tensor xf = x.to(kFloat32);
  CHECK(xf.gather(1, idx).to_vector<float>() == std::vector<float>{0, 2, 5, 7, 11, 8});
  const Tensor s = Tensor::scalar(3.5, {.dtype = kFloat64});
  const Tensor g0 = s.gather(0, Tensor::scalar(0, {.dtype = kInt64}));
  CHECK(g0.dim() == 0);
  CHECK(g0.item() == 3.5);
}

TEST_CASE("index: scatter_add matches a loop, repeated indices accumulate") {
  Generator gen(2);
  const Shape bshape = {4, 5, 6};
  for (int variant = 0; variant < 3; ++variant) {
    for (std::int64_t d = 0; d < 3; ++d) {
      const Tensor base = make_layout(bshape, variant, gen);
      Shape ishape = {3, 4, 5};  // smaller than base outside d
      ishape[d] = 9;             // more entries than base has along d: repeats certain
      Shape sshape = ishape;     // src larger than index in every dim
      for (auto& s : sshape) s += 1;
      const Tensor src = make_layout(sshape, variant, gen);
      const Tensor index = Tensor::randint(0, bshape[d], ishape, {.dtype = kInt64}, &gen);
      const Tensor out = scatter_add(base, d, index, src);
      REQUIRE(out.shape() == bshape);
      auto want = base.to_vector<double>();
      const auto sv = src.to_vector<double>();
      const auto iv = index.to_vector<std::int64_t>();
      for (std::int64_t p = 0; p < static_cast<std::int64_t>(iv.size()); ++p) {
        const auto pi = unravel(p, ishape);
        auto q = pi;
        q[d] = iv[p];
        want[ravel(q, bshape)] += sv[ravel(pi, sshape)];
      }
      INFO("variant ", variant, " dim ", d);
      check_close(out.to_vector<double>(), want);
    }
  }
  // All indices equal: everything lands in one cell.
  const Tensor ones = Tensor::ones({5}, {.dtype = kFloat64});
  const Tensor zeros = Tensor::zeros({3}, {.dtype = kFloat64});
  const Tensor out = scatter_add(zeros, 0, int_tensor({1, 1, 1, 1, 1}, {5}), ones);
  CHECK(out.to_vector<double>() == std::vector<double>{0, 5, 0});
  // scatter_add is out-of-place: base is untouched.
  CHECK(zeros.to_vector<double>() == std::vector<double>{0, 0, 0});
}

TEST_CASE("index: scatter_add on a large tensor agrees with a loop (parallel kernel)") {
  Generator gen(3);
  // Large enough to take the OpenMP path; dim 0 with outer = 1 and a wide inner.
  const Shape bshape = {50, 1000};
  const Shape ishape = {200, 1000};
  const Tensor base = randn64(bshape, gen);
  const Tensor src = randn64(ishape, gen);
  const Tensor index = Tensor::randint(0, 50, ishape, {.dtype = kInt64}, &gen);
  const Tensor out = scatter_add(base, 0, index, src);
  auto want = base.to_vector<double>();
  const auto sv = src.to_vector<double>();
  const auto iv = index.to_vector<std::int64_t>();
  for (std::int64_t j = 0; j < 200; ++j)
    for (std::int64_t i = 0; i < 1000; ++i) want[iv[j * 1000 + i] * 1000 + i] += sv[j * 1000 + i];
  check_close(out.to_vector<double>(), want);
  // And the large index_add along dim 1 (outer = 50, inner = 1).
  const Tensor idx1 = Tensor::randint(0, 1000, {3000}, {.dtype = kInt64}, &gen);
  const Tensor src1 = randn64({50, 3000}, gen);
  const Tensor out1 = index_add(base, 1, idx1, src1);
  auto want1 = base.to_vector<double>();
  const auto s1 = src1.to_vector<double>();
  const auto i1 = idx1.to_vector<std::int64_t>();
  for (std::int64_t o = 0; o < 50; ++o)
    for (std::int64_t j = 0; j < 3000; ++j) want1[o * 1000 + i1[j]] += s1[o * 3000 + j];
  check_close(out1.to_vector<double>(), want1);
}

// ---- index_select / index_add -----------------------------------------------------------

TEST_CASE("index: index_select matches a loop on every dim and layout") {
  Generator gen(4);
  const Shape xshape = {4, 5, 6};
  for (int variant = 0; variant < 3; ++variant) {
    for (std::int64_t d = 0; d < 3; ++d) {
      const Tensor x = make_layout(xshape, variant, gen);
      // A sliced (strided) index with repeats.
      const Tensor index =
          Tensor::randint(0, xshape[d], {14}, {.dtype = kInt64}, &gen).slice(0, 0, 14, 2);
      const Tensor out = x.index_select(d, index);
      Shape oshape = xshape;
      oshape[d] = 7;
      REQUIRE(out.shape() == oshape);
      const auto xv = x.to_vector<double>();
      const auto iv = index.to_vector<std::int64_t>();
      std::vector<double> want(static_cast<size_t>(numel_of(oshape)));
      for (std::int64_t p = 0; p < numel_of(oshape); ++p) {
        auto q = unravel(p, oshape);
        q[d] = iv[q[d]];
        want[p] = xv[ravel(q, xshape)];
      }
      INFO("variant ", variant, " dim ", d);
      check_close(out.to_vector<double>(), want);
    }
  }
  // 0-d index selects one slice and keeps the dim; an empty index gives an empty dim.
  const Tensor x = Tensor::arange(0, 6, 1, {.dtype = kFloat64}).view({2, 3});
  CHECK(x.index_select(1, Tensor::scalar(2, {.dtype = kInt64})).to_vector<double>() ==
        std::vector<double>{2, 5});
  CHECK(x.index_select(0, Tensor::zeros({0}, {.dtype = kInt64})).shape() == Shape{0, 3});
}

TEST_CASE("index: index_add matches a loop, repeated indices accumulate") {
  Generator gen(5);
  const Shape bshape = {4, 5, 6};
  for (int variant = 0; variant < 3; ++variant) {
    for (std::int64_t d = 0; d < 3; ++d) {
      const Tensor base = make_layout(bshape, variant, gen);
      Shape sshape = bshape;
      sshape[d] = 8;
      const Tensor src = make_layout(sshape, variant, gen);
      const Tensor index = Tensor::randint(0, bshape[d], {8}, {.dtype = kInt64}, &gen);
      const Tensor out = index_add(base, d, index, src);
      auto want = base.to_vector<double>();
      const auto sv = src.to_vector<double>();
      const auto iv = index.to_vector<std::int64_t>();
      for (std::int64_t p = 0; p < numel_of(sshape); ++p) {
        auto q = unravel(p, sshape);
        q[d] = iv[q[d]];
        want[ravel(q, bshape)] += sv[p];
      }
      INFO("variant ", variant, " dim ", d);
      check_close(out.to_vector<double>(), want);
    }
  }
}

// ---- cat / stack --------------------------------------------------------------------------

TEST_CASE("index: cat matches a loop on every dim and layout") {
  Generator gen(6);
  for (int variant = 0; variant < 3; ++variant) {
    for (std::int64_t d = 0; d < 3; ++d) {
      std::vector<Tensor> parts;
      std::vector<Shape> shapes;
      for (std::int64_t n : {2, 0, 3, 1}) {
        Shape s = {3, 4, 5};
        s[d] = n;
        shapes.push_back(s);
        parts.push_back(make_layout(s, n == 0 ? 0 : variant, gen));
      }
      const Tensor out = cat(parts, d - 3);  // negative dim
      Shape oshape = {3, 4, 5};
      oshape[d] = 6;
      REQUIRE(out.shape() == oshape);
      std::vector<std::vector<double>> vals;
      for (const auto& p : parts) vals.push_back(p.to_vector<double>());
      std::vector<double> want(static_cast<size_t>(numel_of(oshape)));
      for (std::int64_t p = 0; p < numel_of(oshape); ++p) {
        auto q = unravel(p, oshape);
        size_t which = 0;
        while (q[d] >= shapes[which][d]) q[d] -= shapes[which++][d];
        want[p] = vals[which][ravel(q, shapes[which])];
      }
      INFO("variant ", variant, " dim ", d);
      check_close(out.to_vector<double>(), want);
    }
  }
  // int64 and a single input (a copy, not a view).
  const Tensor a = Tensor::arange(0, 3, 1, {.dtype = kInt64});
  const Tensor c = cat({a, a}, 0);
  CHECK(c.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 0, 1, 2});
  CHECK_FALSE(cat({a}).shares_storage_with(a));
}

TEST_CASE("index: stack inserts a new dim") {
  const Tensor a = Tensor::tensor({{1, 2, 3}, {4, 5, 6}}, {.dtype = kFloat64});
  const Tensor b = a * 10.0;
  const Tensor s0 = stack({a, b});
  CHECK(s0.shape() == Shape{2, 2, 3});
  CHECK(s0.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60});
  const Tensor s2 = stack({a, b}, -1);
  CHECK(s2.shape() == Shape{2, 3, 2});
  CHECK(s2.to_vector<double>() == std::vector<double>{1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60});
  const Tensor s1 = stack({a.t(), b.t(), a.t()}, 1);  // transposed inputs
  CHECK(s1.shape() == Shape{3, 3, 2});
  CHECK(s1.at({2, 1, 0}) == 30);
  CHECK(s1.at({0, 2, 1}) == 4);
  CHECK(stack({Tensor::scalar(1), Tensor::scalar(2)}).shape() == Shape{2});
}

// ---- split / chunk ------------------------------------------------------------------------

TEST_CASE("index: split and chunk are views with torch's piece sizes") {
  Tensor x = Tensor::arange(0, 30, 1, {.dtype = kFloat64}).view({5, 6});
  auto sizes_along = [](const std::vector<Tensor>& pieces, std::int64_t d) {
    std::vector<std::int64_t> s;
    for (const auto& p : pieces) s.push_back(p.size(d));
    return s;
  };
  CHECK(sizes_along(x.split(2, 0), 0) == std::vector<std::int64_t>{2, 2, 1});
  CHECK(sizes_along(x.split(6, 0), 0) == std::vector<std::int64_t>{5});
  CHECK(sizes_along(x.split(4, -1), 1) == std::vector<std::int64_t>{4, 2});
  CHECK(sizes_along(x.chunk(3, 0), 0) == std::vector<std::int64_t>{2, 2, 1});
  CHECK(sizes_along(x.chunk(4, 1), 1) == std::vector<std::int64_t>{2, 2, 2});  // fewer than 4
  CHECK(sizes_along(x.chunk(5, 1), 1) == std::vector<std::int64_t>{2, 2, 2});
  CHECK(sizes_along(x.chunk(10, 0), 0) == std::vector<std::int64_t>{1, 1, 1, 1, 1});
  CHECK(sizes_along(split_with_sizes(x, {1, 0, 5}, 1), 1) == std::vector<std::int64_t>{1, 0, 5});
  const Tensor empty = Tensor::zeros({0, 2});
  CHECK(empty.split(3, 0).size() == 1);
  CHECK(empty.chunk(3, 0).size() == 3);

  // Views: same storage, right values, writes are seen by the base.
  const auto pieces = x.chunk(3, 1);
  for (const auto& p : pieces) CHECK(p.shares_storage_with(x));
  CHECK(pieces[1].to_vector<double>() == std::vector<double>{2, 3, 8, 9, 14, 15, 20, 21, 26, 27});
  Tensor last = pieces[2];
  last.fill_(-1);
  CHECK(x.at({3, 5}) == -1);
  CHECK(x.at({3, 3}) == 21);
  // Splitting a permuted tensor gives permuted pieces.
  const auto tp = x.t().split(4, 0);
  CHECK(tp[1].shape() == Shape{2, 5});
  CHECK(tp[0].at({3, 2}) == 15);
  CHECK(tp[1].at({1, 4}) == -1);
}

// ---- repeat ------------------------------------------------------------------------------

TEST_CASE("index: repeat matches a loop, including extra leading dims") {
  Generator gen(7);
  struct Case {
    Shape shape, repeats;
  };
  const std::vector<Case> cases = {{{2, 3}, {2, 2}},       {{2, 3}, {3, 1, 2}}, {{4}, {2, 1, 3}},
                                   {{2, 3, 4}, {1, 1, 1}}, {{2, 3}, {0, 2}},    {{}, {3}},
                                   {{1, 3}, {2, 1, 1, 2}}};
  for (const auto& c : cases) {
    for (int variant = 0; variant < 3; ++variant) {
      const Tensor x = make_layout(c.shape, variant, gen);
      const Tensor out = x.repeat(c.repeats);
      const size_t n = c.repeats.size(), lead = n - c.shape.size();
      Shape oshape(n);
      for (size_t k = 0; k < n; ++k) oshape[k] = c.repeats[k] * (k < lead ? 1 : c.shape[k - lead]);
      REQUIRE(out.shape() == oshape);
      CHECK_FALSE(out.shares_storage_with(x));  // always a copy
      const auto xv = x.to_vector<double>();
      std::vector<double> want(static_cast<size_t>(numel_of(oshape)));
      for (std::int64_t p = 0; p < numel_of(oshape); ++p) {
        const auto q = unravel(p, oshape);
        std::vector<std::int64_t> src(c.shape.size());
        for (size_t k = 0; k < c.shape.size(); ++k) src[k] = q[k + lead] % c.shape[k];
        want[p] = xv[ravel(src, c.shape)];
      }
      INFO("shape ", shape_str(c.shape), " repeats ", shape_str(c.repeats), " variant ", variant);
      check_close(out.to_vector<double>(), want);
    }
  }
}

// ---- pad ----------------------------------------------------------------------------------

TEST_CASE("index: pad matches a loop, negative pads crop") {
  Generator gen(8);
  struct Case {
    Shape shape;
    std::vector<std::int64_t> pads;
  };
  const std::vector<Case> cases = {{{2, 3}, {1, 2}},
                                   {{2, 3}, {1, 2, 0, 1}},
                                   {{2, 3, 4}, {2, 0, 1, 1, 3, 0}},
                                   {{2, 3, 4}, {-1, 2}},
                                   {{2, 3, 4}, {-1, -2, 1, -1}},
                                   {{3, 4}, {0, 0}},
                                   {{3, 4}, {-6, 3}},
                                   {{3, 4}, {3, -5}},
                                   {{3}, {}}};
  for (const auto& c : cases) {
    for (int variant = 0; variant < 3; ++variant) {
      const Tensor x = make_layout(c.shape, variant, gen);
      const double value = -7.5;
      const Tensor out = pad(x, c.pads, value);
      const std::int64_t nd = static_cast<std::int64_t>(c.shape.size());
      std::vector<std::int64_t> before(nd, 0);
      Shape oshape = c.shape;
      for (size_t p = 0; p < c.pads.size() / 2; ++p) {
        before[nd - 1 - p] = c.pads[2 * p];
        oshape[nd - 1 - p] += c.pads[2 * p] + c.pads[2 * p + 1];
      }
      REQUIRE(out.shape() == oshape);
      const auto xv = x.to_vector<double>();
      std::vector<double> want(static_cast<size_t>(numel_of(oshape)));
      for (std::int64_t p = 0; p < numel_of(oshape); ++p) {
        auto q = unravel(p, oshape);
        bool inside = true;
        for (std::int64_t k = 0; k < nd; ++k) {
          q[k] -= before[k];
          inside = inside && q[k] >= 0 && q[k] < c.shape[k];
        }
        want[p] = inside ? xv[ravel(q, c.shape)] : value;
      }
      INFO("shape ", shape_str(c.shape), " pads [", fmt::format("{}", fmt::join(c.pads, ", ")),
           "] variant ", variant);
      check_close(out.to_vector<double>(), want);
    }
  }
  const Tensor i = Tensor::arange(0, 3, 1, {.dtype = kInt64});
  CHECK(pad(i, {1, 1}, 9).to_vector<std::int64_t>() == std::vector<std::int64_t>{9, 0, 1, 2, 9});
}

// ---- errors -------------------------------------------------------------------------------

TEST_CASE("index: errors name the op, the index and the shapes") {
  const Tensor x = Tensor::zeros({2, 5}, {.dtype = kFloat64});
  const Tensor bad = int_tensor({0, 7, 1, 2}, {2, 2});
  CHECK_THROWS_WITH_AS(x.gather(1, bad), "gather: index 7 out of range for dim 1 of size 5", Error);
  CHECK_THROWS_WITH_AS(x.gather(1, int_tensor({-1, 0}, {2, 1})),
                       doctest::Contains("gather: index -1 out of range"), Error);
  CHECK_THROWS_WITH_AS(x.gather(1, bad.to(kFloat64)),
                       doctest::Contains("gather: index must be int64, got float64"), Error);
  CHECK_THROWS_WITH_AS(x.gather(1, int_tensor({0, 1}, {2})),
                       doctest::Contains("same number of dims"), Error);
  CHECK_THROWS_WITH_AS(
      x.gather(1, Tensor::zeros({3, 1}, {.dtype = kInt64})),
      doctest::Contains("index shape [3, 1] is larger than input shape [2, 5] in dim 0"), Error);
  CHECK_THROWS_WITH_AS(x.gather(2, bad), doctest::Contains("gather"), Error);
  CHECK_THROWS_WITH_AS(
      scatter_add(x, 0, int_tensor({2, 0}, {1, 2}), Tensor::ones({1, 2}, {.dtype = kFloat64})),
      "scatter_add: index 2 out of range for dim 0 of size 2", Error);
  CHECK_THROWS_WITH_AS(
      scatter_add(x, 0, int_tensor({0, 0, 0}, {1, 3}), Tensor::ones({1, 2}, {.dtype = kFloat64})),
      doctest::Contains("scatter_add: index shape [1, 3] is larger than src shape [1, 2]"), Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, int_tensor({0}, {1, 1}), Tensor::ones({1, 1})),
                       doctest::Contains("scatter_add: dtypes float64 and float32 differ"), Error);
  CHECK_THROWS_WITH_AS(x.index_select(1, int_tensor({0, 5}, {2})),
                       "index_select: index 5 out of range for dim 1 of size 5", Error);
  CHECK_THROWS_WITH_AS(x.index_select(0, bad),
                       doctest::Contains("index_select: index must be 1-D, got shape [2, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(
      index_add(x, 1, int_tensor({0, 1}, {2}), Tensor::ones({2, 3}, {.dtype = kFloat64})),
      doctest::Contains("index_add: src has shape [2, 3] but base [2, 5] with 2 indices"), Error);
  CHECK_THROWS_WITH_AS(
      index_add(x, 1, int_tensor({0, 9}, {2}), Tensor::ones({2, 2}, {.dtype = kFloat64})),
      "index_add: index 9 out of range for dim 1 of size 5", Error);

  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({2, 4});
  CHECK_THROWS_WITH_AS(cat({a, b}, 0),
                       "cat: tensor 1 has shape [2, 4] but tensor 0 has [2, 3] (sizes must match "
                       "except in dim 0)",
                       Error);
  CHECK_NOTHROW(cat({a, b}, 1));
  CHECK_THROWS_WITH_AS(cat({a, Tensor::zeros({2, 3, 1})}), doctest::Contains("same number of dims"),
                       Error);
  CHECK_THROWS_WITH_AS(
      cat({a, a.to(kFloat64)}),
      doctest::Contains("cat: tensor 1 has dtype float64 but tensor 0 has float32"), Error);
  CHECK_THROWS_WITH_AS(cat({}), doctest::Contains("cat: expects a non-empty list"), Error);
  CHECK_THROWS_WITH_AS(cat({Tensor::scalar(1)}), doctest::Contains("0-d"), Error);
  CHECK_THROWS_WITH_AS(cat({a, a}, 2), doctest::Contains("cat"), Error);
  CHECK_THROWS_WITH_AS(stack({a, b}),
                       "stack: tensor 1 has shape [2, 4] but tensor 0 has [2, 3] (all must have "
                       "the same shape)",
                       Error);
  CHECK_THROWS_WITH_AS(a.split(0, 0), doctest::Contains("split: split_size must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(a.chunk(0, 0), doctest::Contains("chunk: chunks must be positive"), Error);
  CHECK_THROWS_WITH_AS(
      split_with_sizes(a, {1, 1}, 1),
      doctest::Contains("sizes [1, 1] add up to 2 but dim 1 of shape [2, 3] has size 3"), Error);
  CHECK_THROWS_WITH_AS(a.repeat({2}),
                       doctest::Contains("repeat: 1 repeats [2] for a tensor of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(a.repeat({2, -1}), doctest::Contains("repeat: negative repeat"), Error);
  CHECK_THROWS_WITH_AS(pad(a, {1, 2, 3}),
                       doctest::Contains("pad: pads must come in (before, after) pairs"), Error);
  CHECK_THROWS_WITH_AS(pad(a, {1, 1, 1, 1, 1, 1}), doctest::Contains("pad: 3 pairs of pads"),
                       Error);
  CHECK_THROWS_WITH_AS(pad(a, {-2, -2}),
                       "pad: pads (-2, -2) would shrink dim 1 of shape [2, 3] below size 0", Error);
}

// ---- gradients ----------------------------------------------------------------------------

TEST_CASE("index: gradcheck of every op, contiguous and non-contiguous inputs") {
  Generator gen(9);
  const Tensor gidx = int_tensor({0, 3, 3, 1, 2, 0, 1, 1}, {2, 4});  // repeats, narrower dim 0
  const Tensor sidx = int_tensor({2, 0, 2, 1, 2}, {5});
  for (int variant = 0; variant < 3; ++variant) {
    INFO("variant ", variant);
    const auto in = [&](const Shape& s) { return leaf(make_layout(s, variant, gen)); };
    check_grad("gather dim 0", [&](V x) { return x[0].gather(0, gidx.narrow(1, 0, 3)); },
               {in({4, 3})});
    check_grad("gather dim 1", [&](V x) { return x[0].gather(1, gidx); }, {in({3, 4})});
    check_grad("scatter_add", [&](V x) { return scatter_add(x[0], 1, gidx, x[1]); },
               {in({3, 4}), in({2, 5})});
    check_grad("index_select dim 0", [&](V x) { return x[0].index_select(0, sidx); }, {in({3, 4})});
    check_grad("index_select dim 1", [&](V x) { return x[0].index_select(1, sidx); }, {in({2, 3})});
    check_grad("index_add", [&](V x) { return index_add(x[0], 1, sidx, x[1]); },
               {in({2, 3}), in({2, 5})});
    check_grad("cat",
               [](V x) {
                 return cat({x[0], x[1], x[2]}, 1);
               },
               {in({2, 3}), in({2, 1}), in({2, 4})});
    check_grad("stack", [](V x) { return stack({x[0], x[1]}, 2); }, {in({2, 3}), in({2, 3})});
    check_grad("split",
               [](V x) {
                 const auto p = x[0].split(2, 1);
                 return p[0] * 2.0 + p[1] * p[1] + cat({p[2], p[2]}, 1);
               },
               {in({3, 5})});
    check_grad("chunk", [](V x) { return x[0].chunk(2, 0)[1].exp(); }, {in({5, 3})});
    check_grad("repeat", [](V x) { return x[0].repeat({2, 1, 3}); }, {in({2, 3})});
    check_grad("pad", [](V x) { return pad(x[0], {1, 2, 2, 0}, 0.5); }, {in({2, 3})});
    check_grad("pad crop", [](V x) { return pad(x[0], {-1, 2, 1, -1}); }, {in({3, 4})});
  }
}

TEST_CASE("index: double backward through the adjoint pairs") {
  Generator gen(10);
  const Tensor gidx = int_tensor({0, 3, 3, 1, 2, 0, 1, 1}, {2, 4});
  const Tensor sidx = int_tensor({2, 0, 2, 1, 2}, {5});
  // f(x) = d/dx Σ w ⊙ op(x)², whose own gradient needs the op's backward to be
  // differentiable (gather -> scatter_add -> gather, and so on).
  auto second_order = [](std::function<Tensor(const Tensor&)> op) {
    return [op](V x) {
      // gradcheck evaluates f under NoGradGuard for the numeric side; this f needs a
      // graph to differentiate, so it turns grad mode back on.
      autograd::GradModeGuard grad_on(true);
      const Tensor y = op(x[0]);
      const Tensor w = Tensor::arange(1, 1 + static_cast<double>(y.numel()), 1, {.dtype = kFloat64})
                           .view(y.shape());
      const Tensor loss = (y.square() * w).sum();
      return autograd::grad({loss}, {x[0]}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    };
  };
  check_grad("gather", second_order([&](const Tensor& x) { return x.gather(1, gidx); }),
             {leaf(randn64({2, 5}, gen))});
  check_grad("scatter_add", second_order([&](const Tensor& x) {
               return scatter_add(Tensor::zeros({2, 4}, {.dtype = kFloat64}), 1, gidx, x);
             }),
             {leaf(randn64({2, 4}, gen))});
  check_grad("index_select", second_order([&](const Tensor& x) { return x.index_select(1, sidx); }),
             {leaf(randn64({2, 3}, gen))});
  check_grad("index_add", second_order([&](const Tensor& x) {
               return index_add(Tensor::zeros({2, 3}, {.dtype = kFloat64}), 1, sidx, x);
             }),
             {leaf(randn64({2, 5}, gen))});
  check_grad("cat", second_order([](const Tensor& x) {
               return cat({x, x.exp()}, 0);
             }),
             {leaf(randn64({2, 3}, gen))});
  check_grad("pad", second_order([](const Tensor& x) {
               return pad(x, {1, -1, 2, 1});
             }),
             {leaf(randn64({3, 3}, gen))});
  check_grad("repeat", second_order([](const Tensor& x) {
               return x.repeat({2, 2});
             }),
             {leaf(randn64({2, 3}, gen))});
}

TEST_CASE("index: backward of gather sums repeated reads into the input gradient") {
  Tensor x = Tensor::tensor({{1, 2, 3}, {4, 5, 6}}, {.dtype = kFloat64});
  x.requires_grad_(true);
  const Tensor idx = int_tensor({2, 2, 0, 1, 1, 1}, {2, 3});
  x.gather(1, idx).sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 0, 2, 0, 3, 0});
  // index_select: each picked row gets one gradient per pick.
  Tensor y = Tensor::zeros({3, 2}, {.dtype = kFloat64});
  y.requires_grad_(true);
  y.index_select(0, int_tensor({0, 2, 0, 0}, {4})).sum().backward();
  CHECK(y.grad().to_vector<double>() == std::vector<double>{3, 3, 0, 0, 1, 1});
  // cat routes each slice back to its input.
  Tensor a = Tensor::zeros({1, 2}, {.dtype = kFloat64}),
         b = Tensor::zeros({2, 2}, {.dtype = kFloat64});
  a.requires_grad_(true);
  b.requires_grad_(true);
  const Tensor w = Tensor::arange(0, 6, 1, {.dtype = kFloat64}).view({3, 2});
  (cat({a, b}, 0) * w).sum().backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0, 1});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{2, 3, 4, 5});
}
