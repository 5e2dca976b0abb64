#pragma once
// Grad mode: while disabled, ops record no graph (inference, optimizer updates, and the
// backward pass itself unless create_graph is asked for). Thread-local, like PyTorch.
namespace kiln::autograd {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// RAII: disables grad mode for a scope.   { NoGradGuard g; ... }
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// RAII: sets grad mode to `enabled` for a scope (used by the engine for create_graph).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace kiln::autograd

namespace kiln {
using autograd::NoGradGuard;
}
