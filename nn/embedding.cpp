#include "nn/embedding.h"

#include "autograd/ops/embedding.h"
#include "nn/init.h"

namespace kiln::nn {

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim)
    : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  KILN_CHECK(num_embeddings > 0 && embedding_dim > 0,
             "Embedding: num_embeddings and embedding_dim must be positive, got {} and {}",
             num_embeddings, embedding_dim);
  weight = register_parameter("weight", Tensor::empty({num_embeddings, embedding_dim}));
  reset_parameters();
}

void Embedding::reset_parameters(Generator* gen) { init::normal_(weight, 0, 1, gen); }

Tensor Embedding::forward(const Tensor& indices) { return embedding(weight, indices); }

std::string Embedding::extra_repr() const {
  return fmt::format("{}, {}", num_embeddings, embedding_dim);
}

}  // namespace kiln::nn
