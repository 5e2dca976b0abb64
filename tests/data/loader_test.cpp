// DataLoader: batching (with and without drop_last), shuffling that is deterministic
// per seed and epoch, resuming from a saved state, horizontal flips, E31 normalisation,
// and the prefetch thread (same batches as without it, clean shutdown at any point).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "data/loader.h"
#include "data/points.h"
#include "data/shapes.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::data;

namespace {

// n images [n, c, h, w] whose pixels are all different: value = item + pixel / 1000.
Dataset numbered(std::int64_t n, std::int64_t c = 2, std::int64_t h = 3, std::int64_t w = 4) {
  Dataset d;
  d.name = "numbered";
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < c * h * w; ++k) v.push_back(static_cast<float>(i) + k / 1000.0f);
  d.images = Tensor::from_vector(v, {n, c, h, w});
  std::vector<std::int64_t> l;
  for (std::int64_t i = 0; i < n; ++i) l.push_back(100 + i);
  d.labels = Tensor::from_vector(l, {n}, {.dtype = kInt64});
  return d;
}

bool same(const Batch& a, const Batch& b) {
  return a.indices == b.indices && a.epoch == b.epoch && a.position == b.position &&
         a.images.to_vector<float>() == b.images.to_vector<float>() &&
         a.labels.to_vector<std::int64_t>() == b.labels.to_vector<std::int64_t>();
}

}  // namespace

TEST_CASE("loader: batches cover each item once per epoch; drop_last") {
  for (std::int64_t prefetch : {0, 3}) {
    CAPTURE(prefetch);
    DataLoader loader(numbered(10), {.batch_size = 4, .shuffle = true, .seed = 1, .prefetch = prefetch});
    CHECK(loader.batches_per_epoch() == 3);
    std::vector<std::int64_t> seen, sizes;
    for (int i = 0; i < 3; ++i) {
      const Batch b = loader.next();
      CHECK(b.epoch == 0);
      CHECK(b.position == i);
      sizes.push_back(b.images.size(0));
      CHECK(b.images.shape() == Shape{b.images.size(0), 2, 3, 4});
      // Labels and images follow the indices.
      const auto labels = b.labels.to_vector<std::int64_t>();
      for (size_t j = 0; j < b.indices.size(); ++j) {
        CHECK(labels[j] == 100 + b.indices[j]);
        CHECK(b.images.at({static_cast<std::int64_t>(j), 1, 2, 3}) ==
              doctest::Approx(b.indices[j] + 23 / 1000.0));
      }
      seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    }
    CHECK(sizes == std::vector<std::int64_t>{4, 4, 2});
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(loader.state() == LoaderState{1, 0});
    CHECK(loader.next().epoch == 1);
  }
  DataLoader dropping(numbered(10), {.batch_size = 4, .drop_last = true, .prefetch = 2});
  CHECK(dropping.batches_per_epoch() == 2);
  CHECK(dropping.next().images.size(0) == 4);
  CHECK(dropping.next().images.size(0) == 4);
  CHECK(dropping.next().epoch == 1);

  // Without shuffle: the data set's order.
  DataLoader plain(numbered(5), {.batch_size = 2, .shuffle = false});
  CHECK(plain.next().indices == std::vector<std::int64_t>{0, 1});
  CHECK(plain.next().indices == std::vector<std::int64_t>{2, 3});
  CHECK(plain.next().indices == std::vector<std::int64_t>{4});
}

TEST_CASE("loader: shuffling is deterministic per seed and epoch") {
  DataLoader a(numbered(50), {.batch_size = 50, .seed = 7});
  DataLoader b(numbered(50), {.batch_size = 50, .seed = 7, .prefetch = 0});
  DataLoader c(numbered(50), {.batch_size = 50, .seed = 8});
  const Batch a0 = a.next(), a1 = a.next();
  CHECK(same(a0, b.next()));
  CHECK(same(a1, b.next()));
  CHECK(a0.indices != a1.indices);              // a new order every epoch
  CHECK(a0.indices != c.next().indices);        // and for every seed
  CHECK(a0.indices == a.epoch_order(0));
  std::vector<std::int64_t> sorted = a0.indices;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 50; ++i) CHECK(sorted[i] == i);
  // The order of an epoch does not depend on what was read before.
  DataLoader d(numbered(50), {.batch_size = 50, .seed = 7});
  d.set_epoch(1);
  CHECK(same(d.next(), a1));
}

TEST_CASE("loader: state() and set_state resume exactly, with or without prefetching") {
  const LoaderOptions opts{.batch_size = 3, .random_flip = true, .seed = 5, .prefetch = 2};
  DataLoader a(numbered(11), opts);
  for (int i = 0; i < 7; ++i) a.next();
  const LoaderState saved = a.state();
  CHECK(saved == LoaderState{1, 3});
  std::vector<Batch> expected;
  for (int i = 0; i < 6; ++i) expected.push_back(a.next());

  for (std::int64_t prefetch : {0, 1, 4}) {
    CAPTURE(prefetch);
    LoaderOptions o = opts;
    o.prefetch = prefetch;
    DataLoader b(numbered(11), o);
    b.next();  // read something first: it must not matter
    b.set_state(saved);
    CHECK(b.state() == saved);
    for (const Batch& e : expected) CHECK(same(b.next(), e));
  }
  CHECK_THROWS_WITH_AS(a.set_state({0, 4}), doctest::Contains("outside the 4 batches"), Error);
}

TEST_CASE("loader: for-range iterates the rest of one epoch") {
  DataLoader loader(numbered(7), {.batch_size = 2, .seed = 3});
  int count = 0;
  std::int64_t items = 0;
  for (const Batch& b : loader) {
    CHECK(b.epoch == 0);
    ++count;
    items += b.images.size(0);
  }
  CHECK(count == 4);
  CHECK(items == 7);
  CHECK(loader.state() == LoaderState{1, 0});
  loader.next();
  count = 0;
  for (const Batch& b : loader) count += b.epoch == 1;
  CHECK(count == 3);
}

TEST_CASE("loader: random horizontal flips mirror about half of the images") {
  const std::int64_t n = 400;
  const Dataset d = numbered(n, 2, 3, 4);
  DataLoader loader(d, {.batch_size = 64, .random_flip = true, .seed = 11});
  int flipped = 0;
  for (const Batch& b : loader) {
    for (size_t j = 0; j < b.indices.size(); ++j) {
      const Tensor got = b.images.select(0, static_cast<std::int64_t>(j));
      const Tensor orig = d.images.select(0, b.indices[j]);
      const auto g = got.to_vector<float>(), o = orig.to_vector<float>();
      if (g == o) continue;
      // Otherwise it is exactly the mirror image: column x <- column 3 - x.
      for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t y = 0; y < 3; ++y)
          for (std::int64_t x = 0; x < 4; ++x)
            REQUIRE(got.at({c, y, x}) == orig.at({c, y, 3 - x}));
      ++flipped;
    }
  }
  CHECK(flipped > 150);
  CHECK(flipped < 250);
  // Points cannot be flipped.
  CHECK_THROWS_WITH_AS(DataLoader(make_points_dataset(PointSet::Moons, 10), {.random_flip = true}),
                       doctest::Contains("random_flip"), Error);
}

TEST_CASE("loader: E31 normalisation to [-1, 1] and per-channel mean/std") {
  const Dataset shapes = make_shapes(96, 2);
  DataLoader signed_unit(shapes, {.batch_size = 32, .shuffle = false,
                                  .normalize = Normalize::SignedUnit});
  const Batch b = signed_unit.next();
  CHECK(b.images.min().item() >= -1.0);
  CHECK(b.images.max().item() <= 1.0);
  CHECK(b.images.at({3, 1, 5, 7}) == doctest::Approx(shapes.images.at({3, 1, 5, 7}) * 2 - 1));
  const Tensor back = signed_unit.denormalize(b.images);
  CHECK((back - shapes.images.narrow(0, 0, 32)).abs().max().item() < 1e-6);
  CHECK((signed_unit.normalize(shapes.images.narrow(0, 0, 32)) - b.images).abs().max().item() < 1e-6);

  DataLoader channel(shapes, {.batch_size = 32, .normalize = Normalize::Channel, .seed = 4});
  REQUIRE(channel.channel_mean().size() == 3);
  const Tensor m = shapes.images.mean({0, 2, 3});
  for (std::int64_t c = 0; c < 3; ++c)
    CHECK(channel.channel_mean()[c] == doctest::Approx(m.at({c})).epsilon(1e-5));
  // Over one epoch, every channel has mean 0 and (population) std 1.
  std::vector<Tensor> parts;
  for (const Batch& x : channel) parts.push_back(x.images);
  double s[3] = {0, 0, 0}, s2[3] = {0, 0, 0};
  std::int64_t count = 0;
  for (const Tensor& p : parts) {
    for (std::int64_t c = 0; c < 3; ++c) {
      const Tensor ch = p.select(1, c);
      s[c] += ch.sum().item();
      s2[c] += ch.square().sum().item();
    }
    count += p.size(0) * 32 * 32;
  }
  for (int c = 0; c < 3; ++c) {
    CHECK(s[c] / count == doctest::Approx(0.0).epsilon(1e-4).scale(1));
    CHECK(s2[c] / count == doctest::Approx(1.0).epsilon(1e-3));
  }
  const Tensor x = shapes.images.narrow(0, 10, 4);
  CHECK((channel.denormalize(channel.normalize(x)) - x).abs().max().item() < 1e-5);

  // Points: per-coordinate statistics, no clipping on the way back.
  DataLoader pts(make_points_dataset(PointSet::Gaussians8, 1000, 1),
                 {.batch_size = 1000, .normalize = Normalize::Channel});
  const Batch pb = pts.next();
  CHECK(pb.images.std({0}, 0).at({0}) == doctest::Approx(1.0).epsilon(1e-3));
  CHECK(pts.denormalize(Tensor::full({1, 2}, 10.0)).at({0, 0}) > 1.0);
}

TEST_CASE("loader: the prefetch thread shuts down cleanly at any point") {
  const Dataset d = make_shapes(64, 0);
  for (int round = 0; round < 20; ++round) {
    DataLoader loader(d, {.batch_size = 8, .random_flip = true, .seed = 1,
                          .prefetch = 1 + round % 4});
    for (int i = 0; i < round % 5; ++i) loader.next();  // then destroyed with a full queue
  }
  // Restarting the worker repeatedly (set_state) while batches are queued.
  DataLoader loader(d, {.batch_size = 8, .seed = 2, .prefetch = 3});
  for (int i = 0; i < 10; ++i) {
    loader.set_state({i, i % 8});
    CHECK(loader.next().position == i % 8);
  }
  CHECK(true);  // reaching here without a hang or crash is the test
}

TEST_CASE("loader: bad options are errors") {
  CHECK_THROWS_WITH_AS(DataLoader(numbered(3), {.batch_size = 0}),
                       doctest::Contains("batch_size"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(numbered(3), {.batch_size = 4, .drop_last = true}),
                       doctest::Contains("no batch"), Error);
  Dataset bad = numbered(3);
  bad.labels = Tensor::zeros({2}, {.dtype = kInt64});
  CHECK_THROWS_WITH_AS(DataLoader(bad, {}), doctest::Contains("labels"), Error);
  CHECK_THROWS_WITH_AS(DataLoader(Dataset{}, {}), doctest::Contains("no images"), Error);
  // Labels are optional (the swiss roll has none).
  DataLoader none(make_points_dataset(PointSet::SwissRoll, 10), {.batch_size = 4});
  CHECK_FALSE(none.next().labels.defined());
}
