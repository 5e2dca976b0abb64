// Tensor basics: metadata, factories, views sharing storage, conversions, and the
// errors that name the op and the shapes.
#include <doctest/doctest.h>

#include "kiln.h"

using namespace kiln;

TEST_CASE("tensor metadata and typed access") {
  Tensor t = Tensor::zeros({2, 3}, {.dtype = kFloat64});
  CHECK(t.dim() == 2);
  CHECK(t.numel() == 6);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.strides() == Shape{3, 1});
  CHECK(t.size(-1) == 3);
  CHECK(t.dtype() == kFloat64);
  CHECK(t.device() == Device::cpu());
  CHECK(t.is_contiguous());
  t.set_at({1, 2}, 5.5);
  CHECK(t.data_ptr<double>()[5] == 5.5);
  CHECK(t.at({1, -1}) == 5.5);
  CHECK_THROWS_WITH_AS(t.data_ptr<float>(), doctest::Contains("float64"), Error);
  CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("6 elements"), Error);
  CHECK(Tensor::scalar(2.5).item() == 2.5);
  CHECK(Tensor::scalar(7, {.dtype = kInt64}).item<std::int64_t>() == 7);
}

TEST_CASE("factories") {
  CHECK(Tensor::ones({2, 2}).to_vector<float>() == std::vector<float>{1, 1, 1, 1});
  CHECK(Tensor::full({3}, 2.5, {.dtype = kFloat64}).to_vector<double>() ==
        std::vector<double>{2.5, 2.5, 2.5});
  CHECK(Tensor::arange(0, 5, 2, {.dtype = kInt64}).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 2, 4});
  CHECK(Tensor::arange(3).shape() == Shape{3});
  const auto ls = Tensor::linspace(0, 1, 5, {.dtype = kFloat64}).to_vector<double>();
  CHECK(ls == std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  CHECK(Tensor::eye(3).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1});
  CHECK(Tensor::tensor({{1, 2}, {3, 4}}).shape() == Shape{2, 2});
  CHECK(Tensor::from_vector(std::vector<int>{1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = kInt64})
            .at({1, 0}) == 4);
  Tensor base = Tensor::randn({4, 5});
  CHECK(Tensor::zeros_like(base).shape() == base.shape());
  CHECK(Tensor::ones_like(base).to_vector<float>() == std::vector<float>(20, 1.0f));
  CHECK(Tensor::full_like(base, 3).at({3, 4}) == 3);
  CHECK(Tensor::randn_like(base).shape() == base.shape());
  const auto r = Tensor::rand({1000}).to_vector<float>();
  for (float v : r) CHECK((v >= 0.0f && v < 1.0f));
  const auto ri = Tensor::randint(3, 7, {1000}).to_vector<std::int64_t>();
  for (auto v : ri) CHECK((v >= 3 && v < 7));
  CHECK_THROWS_WITH_AS(Tensor::from_vector(std::vector<double>{1, 2}, {3}),
                       doctest::Contains("do not fill"), Error);
}

TEST_CASE("the same seed gives the same tensors") {
  manual_seed(42);
  const auto a = Tensor::randn({10}).to_vector<float>();
  manual_seed(42);
  const auto b = Tensor::randn({10}).to_vector<float>();
  CHECK(a == b);
  Generator g(42);
  CHECK(Tensor::randn({10}, {}, &g).to_vector<float>() == a);
}

TEST_CASE("views share storage") {
  Tensor x = Tensor::arange(0, 12, 1, {.dtype = kFloat64});
  const std::vector<Tensor> views = {
      x.view({3, 4}), x.reshape({2, 6}), x.view({3, 4}).permute({1, 0}),
      x.view({3, 4}).transpose(0, 1), x.view({3, 4}).t(), x.view({1, 12}).squeeze(),
      x.unsqueeze(0), x.view({3, 4}).flatten(), x.narrow(0, 2, 5), x.slice(0, 1, 12, 3),
      x.view({3, 4}).select(0, 1), x.view({1, 12}).expand({5, 12}),
      x.view({3, 4}).split(2, 0)[1], x.view({3, 4}).chunk(2, 1)[0], x.detach()};
  for (const auto& v : views) CHECK(v.shares_storage_with(x));
  // A write through a view is visible through the base.
  Tensor row = x.view({3, 4}).select(0, 1);
  row.fill_(-1);
  CHECK(x.at({4}) == -1);
  CHECK(x.at({7}) == -1);
  CHECK(x.at({8}) == 8);
  // Strides of the views.
  CHECK(x.view({3, 4}).t().strides() == Shape{1, 4});
  CHECK(x.slice(0, 1, 12, 3).strides() == Shape{3});
  CHECK(x.slice(0, 1, 12, 3).offset() == 1);
  CHECK(x.view({1, 12}).expand({5, 12}).strides() == Shape{0, 1});
  CHECK(x.slice(0, 1, 12, 3).to_vector<double>() == std::vector<double>{1, -1, -1, 10});
}

TEST_CASE("contiguous copies only when needed") {
  Tensor x = Tensor::randn({3, 4});
  CHECK(x.contiguous().is_same(x));
  Tensor t = x.t();
  CHECK_FALSE(t.is_contiguous());
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage_with(x));
  CHECK(c.to_vector<float>() == t.to_vector<float>());
  // reshape of a transposed tensor must copy; view must refuse with a clear error.
  CHECK_FALSE(t.reshape({12}).shares_storage_with(x));
  CHECK_THROWS_WITH_AS(t.view({12}), doctest::Contains("view: shape [12] is not compatible"),
                       Error);
  // Splitting and merging dims that are contiguous with each other stays a view.
  Tensor big = Tensor::randn({2, 3, 4});
  CHECK(big.permute({0, 2, 1}).reshape({2, 4, 3}).shares_storage_with(big));
  CHECK(big.reshape({6, 4}).view({2, 3, 2, 2}).shares_storage_with(big));
}

TEST_CASE("to(dtype), clone and copy_") {
  Tensor x = Tensor::tensor({1.5, -2.5, 3.0});
  Tensor d = x.to(kFloat64);
  CHECK(d.dtype() == kFloat64);
  CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.5, 3.0});
  CHECK(x.to(kInt64).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, -2, 3});
  CHECK(x.to(kFloat32).is_same(x));
  Tensor c = x.clone();
  CHECK_FALSE(c.shares_storage_with(x));
  Tensor target = Tensor::zeros({2, 3});
  target.copy_(x);  // broadcast [3] into [2, 3]
  CHECK(target.to_vector<float>() == std::vector<float>{1.5, -2.5, 3, 1.5, -2.5, 3});
}

TEST_CASE("errors name the op and the shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  CHECK_THROWS_WITH_AS(a.matmul(b), "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)",
                       Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({3}) + Tensor::zeros({4}),
                       doctest::Contains("add: shapes [3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}),
                       doctest::Contains("reshape: shape [4, 2] is invalid for input of shape [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(a.reshape({-1, -1}), doctest::Contains("only one dimension can be -1"),
                       Error);
  CHECK_THROWS_WITH_AS(a.permute({0, 0}), doctest::Contains("permute: dim 0 repeated"), Error);
  CHECK_THROWS_WITH_AS(a.sum({2}), doctest::Contains("sum: dim 2 out of range"), Error);
  CHECK_THROWS_WITH_AS(a + Tensor::zeros({2, 3}, {.dtype = kFloat64}),
                       doctest::Contains("add: dtypes float32 and float64 differ"), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, {.dtype = kInt64}).exp(),
                       doctest::Contains("exp: expects a floating dtype"), Error);
  CHECK_THROWS_WITH_AS(a.expand({3, 3}), doctest::Contains("expand: shape [2, 3] cannot be expanded"),
                       Error);
  CHECK_THROWS_WITH_AS(a.narrow(1, 2, 5), doctest::Contains("narrow: range [2, 7) out of bounds"),
                       Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined tensor"), Error);
}

TEST_CASE("cuda devices are refused clearly where there is none") {
  if (cuda::is_available()) {
    MESSAGE("a CUDA device is present; the no-GPU error path is not exercised here");
    return;
  }
  CHECK(cuda::device_count() == 0);
  CHECK_THROWS_AS(Tensor::zeros({2}, {.device = Device::cuda(0)}), Error);
  CHECK_THROWS_AS(Tensor::ones({2}).to(Device::cuda()), Error);
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::parse("cpu").is_cpu());
  CHECK_THROWS_WITH_AS(Device::parse("tpu"), doctest::Contains("unknown device 'tpu'"), Error);
}
