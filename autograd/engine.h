#pragma once
// The backward engine (Note [The graph] in autograd/node.h).
#include <vector>

#include "autograd/node.h"

namespace kiln::autograd {

// Accumulates d(Σ outputs·grad_outputs)/d(leaf) into every leaf's .grad.
// grad_outputs may be empty when every output has one element (seeded with ones).
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

// Returns d(Σ outputs·grad_outputs)/d(inputs) without touching any .grad.
// With create_graph the results carry history, so they can be differentiated again.
// An input the outputs do not depend on gives an undefined tensor when allow_unused,
// and an error otherwise.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

}  // namespace kiln::autograd
