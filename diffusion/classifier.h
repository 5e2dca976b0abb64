#pragma once
// The feature network behind kiln's sample-quality numbers (EQUATIONS.md §7): a small
// CNN trained with kiln on labelled real images ("shapes": circle, square, triangle).
//
// FID scores samples with the features of Inception-v3, a network trained on ImageNet.
// kiln has no such network and downloads nothing, so it trains its own on the labelled
// data the diffusion model learnt from, and measures three things with it:
//   confident share   the share of samples the classifier assigns to one class with
//                     probability >= 0.9: a sample that is recognisably a circle, a
//                     square or a triangle (a blob or noise is not);
//   Fréchet distance  E34 between Gaussians fitted to the features of the samples and
//                     of held-out real images (FID's recipe, our features);
//   KID               E36 on the same features (unbiased, so fair for small sets);
// and E35's Inception-style score of the class probabilities. The numbers compare runs
// of kiln with each other, not with published FID/KID/IS values.
//
// Note [The "other" class]
// A classifier trained only on circles, squares and triangles must call every input one
// of the three, and a CNN does so confidently even for noise: an untrained diffusion
// model's samples (saturated noise) scored 100% "triangle" with p = 0.9995. Such a
// classifier cannot tell a good model from a bad one. So it learns one more class,
// "other", from images that are not one example of a class (with_other_class):
//   noise    white noise around a random colour
//   blobs    smooth random colour fields (coarse noise enlarged bilinearly)
//   blends   two real images of different classes mixed about half and half
// and "recognised" then means: one of the real classes, with p >= 0.9.
//
// Note [Recognisable is not pixel-perfect]
// A generated shape is a little soft or grainy even when anyone would name it at a
// glance. A classifier trained on clean images only (and first, one whose "other" class
// held noisy real shapes) rejected exactly those: it recognised 74% of clean held-out
// shapes, 31% under noise of std 0.03 and 6% after a 3×3 blur. So every training image
// is degraded a little at random -- a partial 3×3 blur and noise of std up to 0.1 -- and
// eval.json reports the share of real held-out images recognised, the ceiling.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "data/dataset.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "tensor/random.h"

namespace kiln::diffusion {

struct ClassifierConfig {
  std::int64_t channels = 3;
  std::int64_t res = 32;
  std::int64_t classes = 4;    // the outputs: the data's classes, then "other" (the last)
  std::int64_t width = 16;     // w above
  std::int64_t features = 64;  // F above
};

class Classifier : public nn::Module {
 public:
  explicit Classifier(ClassifierConfig config = {});
  // x [B, C, S, S] in [0, 1] -> features [B, F]
  Tensor features(const Tensor& x);
  // x [B, C, S, S] in [0, 1] -> logits [B, classes]
  Tensor forward(const Tensor& x) override;
  Tensor logits_from_features(const Tensor& features);

  ClassifierConfig config;
  std::shared_ptr<nn::Sequential> body;  // the three conv stages
  std::shared_ptr<nn::Linear> fc;        // -> features
  std::shared_ptr<nn::Linear> head;      // -> logits
};

// The real images plus n images of the class "other" (Note [The "other" class]), labelled
// real.classes.size(); classes gets "other" appended. Deterministic in (real, n, seed).
data::Dataset with_other_class(const data::Dataset& real, std::int64_t n, std::uint64_t seed);

struct ClassifierTraining {
  std::int64_t steps = 500;
  std::int64_t batch_size = 64;
  double lr = 2e-3;
  bool random_flip = false;  // only for classes that a mirror image keeps (shapes: yes; digits: no)
  // Note [Recognisable is not pixel-perfect]: each image gets noise of std U[0, max_noise]
  // and is mixed with its 3×3 blur by a weight U[0, max_blur].
  double max_noise = 0.1;
  double max_blur = 1.0;
  std::uint64_t seed = 0;
  // Called every 50 steps with (step, loss) for a progress line; may be empty.
  std::function<void(std::int64_t, double)> progress = {};
};

// Trains with Adam on cross-entropy (a warm-up and cosine decay of the learning rate) on
// images [N, C, S, S] in [0, 1] with labels. Draws nothing from the global generator.
void train_classifier(Classifier& model, const data::Dataset& train,
                      const ClassifierTraining& options = {});

// The classifier's view of a set of images [N, C, S, S] in [0, 1], in batches, without a
// graph: class probabilities [N, classes] and features [N, F] (float32, on the CPU).
struct Classified {
  Tensor probs;
  Tensor features;
};
Classified classify(Classifier& model, const Tensor& images, std::int64_t batch = 256);

// Share of rows of `labels` (int64 [N]) equal to argmax of `probs` [N, C].
double accuracy(const Tensor& probs, const Tensor& labels);

// Sample quality of images [N, C, S, S] in [0, 1] against real ones [M, C, S, S], with a
// classifier whose last class is "other".
struct SampleQuality {
  std::int64_t samples = 0;
  double confidence = 0.9;               // the threshold of `confident_share`
  double confident_share = 0;            // share classified as a real class with p >= confidence
  std::vector<std::int64_t> confident_per_class;  // how many of those per real class
  double other_share = 0;                // share whose most likely class is "other"
  double real_confident_share = 0;       // the same share for the real images: the ceiling
  double mean_max_prob = 0;              // mean over the samples of max_c p(c|x)
  double frechet_distance = 0;           // E34 on the features
  double kid = 0, kid_std = 0;           // E36 on the features (mean and std over subsets)
  double inception_score = 0;            // E35 of the probabilities of the real classes
};
SampleQuality sample_quality(Classifier& model, const Tensor& samples, const Tensor& real,
                             double confidence = 0.9, Generator* gen = nullptr);

}  // namespace kiln::diffusion
