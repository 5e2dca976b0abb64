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
// The network (x [B, C, S, S] in [0, 1], S divisible by 8):
//   x·2 - 1                                         E31, as the diffusion models see it
//   3 × (conv3x3 -> GroupNorm -> ReLU -> maxpool 2)  widths w, 2w, 2w   -> [B, 2w, S/8, S/8]
//   mean over the positions                          (shapes are anywhere in the image)
//   Linear(2w, F) -> ReLU                            the features [B, F]
//   Linear(F, classes)                               the logits
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
  std::int64_t classes = 3;
  std::int64_t width = 32;     // w above
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

struct ClassifierTraining {
  std::int64_t steps = 800;
  std::int64_t batch_size = 64;
  double lr = 2e-3;
  bool random_flip = false;  // only for classes that a mirror image keeps (shapes: yes; digits: no)
  std::uint64_t seed = 0;
  // Called every 50 steps with (step, loss) for a progress line; may be empty.
  std::function<void(std::int64_t, double)> progress = {};
};

// Trains with Adam on cross-entropy (a warm-up and cosine decay of the learning rate)
// and returns the accuracy on `heldout`. Both sets: images [N, C, S, S] in [0, 1] with
// labels. Draws its initial weights and nothing else from the global generator.
double train_classifier(Classifier& model, const data::Dataset& train,
                        const data::Dataset& heldout, const ClassifierTraining& options = {});

// The classifier's view of a set of images [N, C, S, S] in [0, 1], in batches, without a
// graph: class probabilities [N, classes] and features [N, F] (float32, on the CPU).
struct Classified {
  Tensor probs;
  Tensor features;
};
Classified classify(Classifier& model, const Tensor& images, std::int64_t batch = 256);

// Share of rows of `labels` (int64 [N]) equal to argmax of `probs` [N, C].
double accuracy(const Tensor& probs, const Tensor& labels);

// Sample quality of images [N, C, S, S] in [0, 1] against real ones [M, C, S, S].
struct SampleQuality {
  std::int64_t samples = 0;
  double confidence = 0.9;               // the threshold of `confident_share`
  double confident_share = 0;            // share with max_c p(c|x) >= confidence
  std::vector<std::int64_t> confident_per_class;  // how many confident ones per class
  double mean_max_prob = 0;              // mean over the samples of max_c p(c|x)
  double frechet_distance = 0;           // E34 on the features
  double kid = 0, kid_std = 0;           // E36 on the features (mean and std over subsets)
  double inception_score = 0;            // E35 of the probabilities
};
SampleQuality sample_quality(Classifier& model, const Tensor& samples, const Tensor& real,
                             double confidence = 0.9, Generator* gen = nullptr);

}  // namespace kiln::diffusion
