#include "diffusion/classifier.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/ops/index.h"
#include "autograd/ops/loss.h"
#include "data/image.h"
#include "data/loader.h"
#include "diffusion/metrics.h"
#include "nn/activation.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "tensor/error.h"

namespace kiln::diffusion {

Classifier::Classifier(ClassifierConfig c) : config(c) {
  KILN_CHECK(c.res % 8 == 0 && c.res >= 8,
             "Classifier: the image side must be a multiple of 8 (three 2x2 poolings), got {}",
             c.res);
  KILN_CHECK(c.classes >= 2, "Classifier: needs at least 2 classes, got {}", c.classes);
  const std::int64_t w = c.width;
  body = register_module("body", std::make_shared<nn::Sequential>());
  std::int64_t cin = c.channels;
  for (const std::int64_t cout : {w, 2 * w, 2 * w}) {
    body->push_back(std::make_shared<nn::Conv2d>(cin, cout, 3, nn::Conv2dOptions{.padding = 1}));
    body->push_back(std::make_shared<nn::GroupNorm>(8, cout));
    body->push_back(std::make_shared<nn::ReLU>());
    body->push_back(std::make_shared<nn::MaxPool2d>(2));
    cin = cout;
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(cin, c.features));
  head = register_module("head", std::make_shared<nn::Linear>(c.features, c.classes));
}

Tensor Classifier::features(const Tensor& x) {
  KILN_CHECK(x.dim() == 4 && x.size(1) == config.channels && x.size(2) == config.res &&
                 x.size(3) == config.res,
             "Classifier: expects images [B, {}, {}, {}], got {}", config.channels, config.res,
             config.res, shape_str(x.shape()));
  const Tensor h = body->forward(x * 2.0 - 1.0);  // E31: [0, 1] -> [-1, 1]
  return fc->forward(h.max({2, 3})).relu();       // [B, 2w] -> [B, F]
}

Tensor Classifier::logits_from_features(const Tensor& f) { return head->forward(f); }

Tensor Classifier::forward(const Tensor& x) { return logits_from_features(features(x)); }

data::Dataset with_other_class(const data::Dataset& real, std::int64_t n, std::uint64_t seed) {
  real.check("with_other_class");
  KILN_CHECK(real.has_labels() && real.images.dim() == 4 && real.size() >= 2,
             "with_other_class: needs labelled images [N, C, H, W], N >= 2, got '{}' of shape {}",
             real.name, shape_str(real.images.shape()));
  Generator gen(seed);
  const std::int64_t N = real.size(), C = real.images.size(1), H = real.images.size(2),
                     W = real.images.size(3);
  const std::int64_t k = n / 3;  // noise, blobs; the rest blends
  auto uniform = [&](const Shape& shape, double lo, double hi) {
    return Tensor::rand(shape, {}, &gen) * (hi - lo) + lo;
  };
  std::vector<Tensor> parts;
  // noise: white noise of std 0.15..0.5 around a random colour
  parts.push_back(uniform({k, C, 1, 1}, 0.2, 0.8) +
                  uniform({k, 1, 1, 1}, 0.15, 0.5) * Tensor::randn({k, C, H, W}, {}, &gen));
  // blobs: coarse noise (2×2 .. 8×8) enlarged bilinearly, a smooth random colour field
  std::vector<Tensor> blobs;
  for (std::int64_t i = 0; i < k; ++i) {
    const std::int64_t coarse = std::int64_t{2} << (i % 3);
    const Tensor z = uniform({C, 1, 1}, 0.2, 0.8) + 0.35 * Tensor::randn({C, coarse, coarse}, {}, &gen);
    blobs.push_back(data::resize_image(z, H, W));
  }
  parts.push_back(stack(blobs, 0));
  // blends: two real images of different classes, mixed with a weight in [0.35, 0.65]
  const std::int64_t m = n - 2 * k;
  const std::vector<std::int64_t> a = Tensor::randint(0, N, {m}, {.dtype = DType::Int64}, &gen).to_vector<std::int64_t>();
  std::vector<std::int64_t> b = Tensor::randint(0, N, {m}, {.dtype = DType::Int64}, &gen).to_vector<std::int64_t>();
  const std::vector<std::int64_t> label = real.labels.to_vector<std::int64_t>();
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t tries = 0; tries < N && label[b[i]] == label[a[i]]; ++tries) b[i] = (b[i] + 1) % N;
  const Options int64{.dtype = DType::Int64};
  const Tensor w = uniform({m, 1, 1, 1}, 0.35, 0.65);
  parts.push_back(w * index_select(real.images, 0, Tensor::from_vector(a, {m}, int64)) +
                  (1.0 - w) * index_select(real.images, 0, Tensor::from_vector(b, {m}, int64)));

  data::Dataset out = real;
  out.images = cat({real.images, cat(parts, 0).clamp(0.0, 1.0)}, 0);
  out.labels = cat({real.labels, Tensor::full({n}, static_cast<double>(real.classes.size()), int64)}, 0);
  out.classes.push_back("other");
  return out;
}

namespace {

// The 3×3 box blur of images [B, C, H, W], the border pixels repeated outwards.
Tensor box_blur(const Tensor& x) {
  auto shifted = [&](std::int64_t dim, std::int64_t d) {
    const std::int64_t n = x.size(dim);
    std::vector<std::int64_t> idx(static_cast<size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) idx[i] = std::clamp<std::int64_t>(i + d, 0, n - 1);
    return Tensor::from_vector(idx, {n}, {.dtype = DType::Int64});
  };
  Tensor sum = Tensor::zeros_like(x);
  for (std::int64_t dy = -1; dy <= 1; ++dy)
    for (std::int64_t dx = -1; dx <= 1; ++dx)
      sum = sum + index_select(index_select(x, 2, shifted(2, dy)), 3, shifted(3, dx));
  return sum / 9.0;
}

}  // namespace

void train_classifier(Classifier& model, const data::Dataset& train, const ClassifierTraining& o) {
  KILN_CHECK(train.has_labels(), "train_classifier: data set '{}' has no labels", train.name);
  data::DataLoader loader(train, {.batch_size = std::min(o.batch_size, train.size()),
                                  .drop_last = true,
                                  .random_flip = o.random_flip,
                                  .seed = o.seed});
  optim::Adam opt(model.parameters(), o.lr);
  const optim::WarmupCosine lr{o.lr, std::max<std::int64_t>(1, o.steps / 20), o.steps};
  Generator gen(o.seed);
  model.train();
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const data::Batch b = loader.next();
    // Note [Recognisable is not pixel-perfect]: a partial blur and a little noise.
    const std::int64_t B = b.images.size(0);
    const Tensor blur = Tensor::rand({B, 1, 1, 1}, {}, &gen) * o.max_blur;
    const Tensor noise = Tensor::rand({B, 1, 1, 1}, {}, &gen) * o.max_noise;
    Tensor x = b.images + blur * (box_blur(b.images) - b.images);
    x = (x + noise * Tensor::randn(x.shape(), {}, &gen)).clamp(0.0, 1.0);
    opt.zero_grad();
    const Tensor loss = cross_entropy(model.forward(x), b.labels);
    loss.backward();
    opt.set_lr(lr(step));
    opt.step();
    if (o.progress && (step % 50 == 0 || step + 1 == o.steps)) o.progress(step + 1, loss.item());
  }
  model.eval();
}

Classified classify(Classifier& model, const Tensor& images, std::int64_t batch) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<Tensor> probs, feats;
  for (std::int64_t i = 0; i < images.size(0); i += batch) {
    const Tensor x = images.narrow(0, i, std::min(batch, images.size(0) - i));
    const Tensor f = model.features(x);
    probs.push_back(model.logits_from_features(f).softmax(1).to(Device::cpu()));
    feats.push_back(f.to(Device::cpu()));
  }
  return {cat(probs, 0), cat(feats, 0)};
}

double accuracy(const Tensor& probs, const Tensor& labels) {
  const Tensor hit = probs.argmax(1).to(DType::Float64) == labels.to(DType::Float64);
  return hit.mean().item();
}

SampleQuality sample_quality(Classifier& model, const Tensor& samples, const Tensor& real,
                             double confidence, Generator* gen) {
  KILN_CHECK(samples.size(0) >= 2 && real.size(0) >= 2,
             "sample_quality: needs at least 2 samples and 2 real images, got {} and {}",
             samples.size(0), real.size(0));
  const Classified s = classify(model, samples);
  const Classified r = classify(model, real);
  SampleQuality q;
  q.samples = samples.size(0);
  q.confidence = confidence;
  const std::int64_t real_classes = model.config.classes - 1;  // the last is "other"
  // Which images are recognised: argmax a real class, with probability >= confidence.
  auto recognised = [&](const Tensor& probs, std::vector<std::int64_t>* per_class) {
    const std::vector<double> p = probs.max({1}).to_vector<double>();
    const std::vector<std::int64_t> cls = probs.argmax(1).to_vector<std::int64_t>();
    std::int64_t n = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      if (cls[i] == real_classes || p[i] < confidence) continue;
      ++n;
      if (per_class) ++(*per_class)[static_cast<size_t>(cls[i])];
    }
    return static_cast<double>(n) / static_cast<double>(p.size());
  };
  q.confident_per_class.assign(static_cast<size_t>(real_classes), 0);
  q.confident_share = recognised(s.probs, &q.confident_per_class);
  q.real_confident_share = recognised(r.probs, nullptr);
  const Tensor is_other = s.probs.argmax(1).to(DType::Float64) == static_cast<double>(real_classes);
  q.other_share = is_other.mean().item();
  const Tensor max_prob = s.probs.max({1});
  q.mean_max_prob = max_prob.mean().item();
  q.frechet_distance = frechet_distance(s.features, r.features);  // E34
  const MeanAndSpread kid = kernel_distance(s.features, r.features, 20, 0, gen);  // E36
  q.kid = kid.mean;
  q.kid_std = kid.std;
  // E35 over the real classes (their probabilities renormalised).
  const Tensor real_probs = s.probs.narrow(1, 0, real_classes);
  q.inception_score = inception_score(real_probs / real_probs.sum({1}, true)).mean;
  return q;
}

}  // namespace kiln::diffusion
