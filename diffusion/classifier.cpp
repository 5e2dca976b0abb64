#include "diffusion/classifier.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/ops/index.h"
#include "autograd/ops/loss.h"
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
  return fc->forward(h.mean({2, 3})).relu();      // [B, 2w] -> [B, F]
}

Tensor Classifier::logits_from_features(const Tensor& f) { return head->forward(f); }

Tensor Classifier::forward(const Tensor& x) { return logits_from_features(features(x)); }

double train_classifier(Classifier& model, const data::Dataset& train,
                        const data::Dataset& heldout, const ClassifierTraining& o) {
  KILN_CHECK(train.has_labels() && heldout.has_labels(),
             "train_classifier: data set '{}' has no labels", train.name);
  data::DataLoader loader(train, {.batch_size = std::min(o.batch_size, train.size()),
                                  .drop_last = true,
                                  .random_flip = o.random_flip,
                                  .seed = o.seed});
  optim::Adam opt(model.parameters(), o.lr);
  const optim::WarmupCosine lr{o.lr, std::max<std::int64_t>(1, o.steps / 20), o.steps};
  model.train();
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const data::Batch b = loader.next();
    opt.zero_grad();
    const Tensor loss = cross_entropy(model.forward(b.images), b.labels);
    loss.backward();
    opt.set_lr(lr(step));
    opt.step();
    if (o.progress && (step % 50 == 0 || step + 1 == o.steps)) o.progress(step + 1, loss.item());
  }
  model.eval();
  return accuracy(classify(model, heldout.images).probs, heldout.labels);
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
  const Tensor max_prob = s.probs.max({1});
  const std::vector<double> p = max_prob.to_vector<double>();
  const std::vector<std::int64_t> cls = s.probs.argmax(1).to_vector<std::int64_t>();
  q.confident_per_class.assign(static_cast<size_t>(model.config.classes), 0);
  std::int64_t confident = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] >= confidence) {
      ++confident;
      ++q.confident_per_class[static_cast<size_t>(cls[i])];
    }
  }
  q.confident_share = static_cast<double>(confident) / static_cast<double>(q.samples);
  q.mean_max_prob = max_prob.mean().item();
  q.frechet_distance = frechet_distance(s.features, r.features);  // E34
  const MeanAndSpread kid = kernel_distance(s.features, r.features, 20, 0, gen);  // E36
  q.kid = kid.mean;
  q.kid_std = kid.std;
  q.inception_score = inception_score(s.probs).mean;  // E35
  return q;
}

}  // namespace kiln::diffusion
