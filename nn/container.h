#pragma once
// Containers and structural modules:
//   Sequential   runs its modules one after the other (each one's forward(const Tensor&)),
//   ModuleList   holds modules to index and loop over (no forward of its own),
//   Identity     returns its input,
//   Flatten      x.flatten(start_dim, end_dim), by default (N, C, H, W) -> (N, C·H·W).
// Children are named "0", "1", ... as in torch, so a Sequential's parameters read
// "0.weight", "2.bias".
//
//   auto net = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Linear>(2, 16), std::make_shared<nn::ReLU>(),
//       std::make_shared<nn::Linear>(16, 1));
//   Tensor y = net->forward(x);
#include <cstddef>
#include <memory>
#include <vector>

#include "nn/module.h"

namespace kiln::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... Ms>
  explicit Sequential(std::shared_ptr<Ms>... modules) {
    (push_back(std::shared_ptr<Module>(std::move(modules))), ...);
  }
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
    for (const auto& m : modules) push_back(m);
  }

  // Appends a module named by its position.
  void push_back(std::shared_ptr<Module> module);
  // Appends a module under a name of your choosing ("conv1"); names must be unique.
  void push_back(const std::string& name, std::shared_ptr<Module> module);

  Tensor forward(const Tensor& x) override;

  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return modules_.at(i); }
  // The i-th module as its concrete type: seq->at<nn::Linear>(0)->weight.
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto m = std::dynamic_pointer_cast<M>(modules_.at(i));
    KILN_CHECK(m != nullptr, "Sequential::at: module {} is a {}", i, modules_.at(i)->name());
    return m;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

class ModuleList : public Module {
 public:
  ModuleList() = default;
  template <class... Ms>
  explicit ModuleList(std::shared_ptr<Ms>... modules) {
    (push_back(std::shared_ptr<Module>(std::move(modules))), ...);
  }
  void push_back(std::shared_ptr<Module> module);
  std::size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return modules_.at(i); }
  template <class M>
  std::shared_ptr<M> at(std::size_t i) const {
    auto m = std::dynamic_pointer_cast<M>(modules_.at(i));
    KILN_CHECK(m != nullptr, "ModuleList::at: module {} is a {}", i, modules_.at(i)->name());
    return m;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

struct Identity : Module {
  Tensor forward(const Tensor& x) override { return x; }
};

class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  std::string extra_repr() const override {
    return fmt::format("start_dim={}, end_dim={}", start_dim, end_dim);
  }
  std::int64_t start_dim, end_dim;
};

}  // namespace kiln::nn
