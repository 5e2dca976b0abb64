#pragma once
// The autograd graph.
//
// Note [The graph]
// Every differentiable op that sees an input requiring grad records one Node: the op's
// backward. A Node has exactly one output (the tensor the op returned) and one Edge
// per input, pointing at the Node that produced that input (or at the input's
// AccumulateGrad node when it is a leaf, or nowhere when it needs no gradient).
// backward() walks these edges from the loss: a topological sort, then one reversed
// loop that calls each Node's apply(grad_of_its_output) and routes the returned input
// gradients along the edges (autograd/engine.cpp).
//
// Note [Saved tensors]
// A backward closure may keep the op's *inputs* (they never point back at this node),
// but never its output with history: the output holds this node as grad_fn, so saving
// it would be a reference cycle. Ops that want their output save output.detach().
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace kiln::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
};

struct Node {
  virtual ~Node() = default;
  // d(loss)/d(inputs) given d(loss)/d(output); one entry per edge (undefined = zero).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  virtual std::string name() const = 0;
  // Frees what the backward saved; called after a backward without retain_graph.
  virtual void release() {}

  std::vector<Edge> next_edges;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// The node of an ordinary op: a name ("MulBackward") and a closure over saved inputs.
struct FunctionNode final : Node {
  FunctionNode(std::string name, BackwardFn backward)
      : name_(std::move(name)), backward_(std::move(backward)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  std::string name() const override { return name_; }
  void release() override { backward_ = nullptr; }

 private:
  std::string name_;
  BackwardFn backward_;
};

// The sink at a leaf tensor: adds the incoming gradient into leaf.grad.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  std::string name() const override { return "AccumulateGrad"; }
  Tensor variable() const { return Tensor(leaf_); }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The edge an op input contributes: its grad_fn, its accumulator, or none.
Edge edge_of(const Tensor& input);

// Records `backward` as the grad_fn of `output` if grad mode is on and any input
// requires grad; returns output. Ops end with
//   return record("ExpBackward", out, {x}, [x](const Tensor& g) { return grads(g * x.exp()); });
Tensor record(const char* name, Tensor output, std::initializer_list<Tensor> inputs,
              BackwardFn backward);
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs,
              BackwardFn backward);

}  // namespace kiln::autograd
