#pragma once
// nn::Embedding (torch.nn.Embedding): a table of num_embeddings vectors of size
// embedding_dim; forward(indices) looks rows up.
//   weight (V, D) ~ N(0, 1) as torch;  indices int64 (...)  ->  (..., D)
#include <cstdint>

#include "nn/module.h"

namespace kiln::nn {

class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim);
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  std::int64_t num_embeddings, embedding_dim;
  Tensor weight;  // (num_embeddings, embedding_dim)
};

}  // namespace kiln::nn
