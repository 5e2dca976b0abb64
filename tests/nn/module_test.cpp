// nn::Module: registration and dotted names, traversal order, train/eval, to(dtype),
// zero_grad, state_dict round trips and the errors of strict loading, the printed
// summary, and Sequential / ModuleList.
#include <doctest/doctest.h>

#include "kiln.h"

using namespace kiln;

namespace {

struct Block : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 3));
  std::shared_ptr<nn::BatchNorm2d> bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(3));
  Tensor scale = register_parameter("scale", Tensor::ones({3}));
  Tensor counter = register_buffer("counter", Tensor::zeros({1}));
  Tensor cache = register_buffer("cache", Tensor::zeros({2}), /*persistent=*/false);
};

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 4));
  std::shared_ptr<Block> block = register_module("block", std::make_shared<Block>());
  std::shared_ptr<nn::Linear> fc2 =
      register_module("fc2", std::make_shared<nn::Linear>(3, 1, /*bias=*/false));
  Tensor forward(const Tensor& x) override {
    return fc2->forward(block->fc->forward(fc1->forward(x).relu()));
  }
};

std::vector<std::string> keys(const nn::OrderedDict<Tensor>& d) { return d.keys(); }

}  // namespace

TEST_CASE("module: registration gives PyTorch-style dotted names in registration order") {
  Net net;
  CHECK(keys(net.named_parameters()) ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "block.scale", "block.fc.weight",
                                 "block.fc.bias", "block.bn.weight", "block.bn.bias",
                                 "fc2.weight"});
  CHECK(keys(net.named_buffers()) ==
        std::vector<std::string>{"block.counter", "block.cache", "block.bn.running_mean",
                                 "block.bn.running_var", "block.bn.num_batches_tracked"});
  // state_dict: per module its parameters, its persistent buffers, then its children.
  CHECK(keys(net.state_dict()) ==
        std::vector<std::string>{"fc1.weight", "fc1.bias", "block.scale", "block.counter",
                                 "block.fc.weight", "block.fc.bias", "block.bn.weight",
                                 "block.bn.bias", "block.bn.running_mean", "block.bn.running_var",
                                 "block.bn.num_batches_tracked", "fc2.weight"});
  CHECK(keys(net.named_parameters(/*recurse=*/false)).empty());
  CHECK(net.block->named_parameters(false).keys() == std::vector<std::string>{"scale"});
  CHECK(net.named_children().keys() == std::vector<std::string>{"fc1", "block", "fc2"});
  CHECK(net.named_modules().keys() ==
        std::vector<std::string>{"fc1", "block", "block.fc", "block.bn", "fc2"});
  // Handles: the member and the registered parameter are the same tensor.
  CHECK(net.named_parameters().at("fc1.weight").is_same(net.fc1->weight));
  CHECK(net.fc1->weight.requires_grad());
  CHECK(net.fc1->weight.is_leaf());
  CHECK_FALSE(net.block->counter.requires_grad());
  CHECK(net.num_parameters() == 8 + 4 + 3 + 12 + 3 + 3 + 3 + 3);
  CHECK(net.name() == "Net");
  CHECK(net.fc1->name() == "Linear");
}

TEST_CASE("module: registration errors name the module and the entry") {
  nn::Module m;
  m.register_parameter("w", Tensor::zeros({2}));
  CHECK_THROWS_WITH_AS(m.register_parameter("w", Tensor::zeros({2})),
                       doctest::Contains("'w' is already registered"), Error);
  CHECK_THROWS_WITH_AS(m.register_buffer("a.b", Tensor::zeros({2})), doctest::Contains("'.'"),
                       Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("i", Tensor::zeros({2}, {.dtype = kInt64})),
                       doctest::Contains("floating"), Error);
  CHECK_THROWS_WITH_AS(m.register_module("w", std::make_shared<nn::ReLU>()),
                       doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1})),
                       doctest::Contains("not implemented for Module"), NotImplemented);
}

TEST_CASE("module: train/eval reach every submodule") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.block->bn->is_training());
  net.train();
  CHECK(net.block->bn->is_training());
  int visited = 0;
  net.apply([&](nn::Module&) { ++visited; });
  CHECK(visited == 6);
}

TEST_CASE("module: to(dtype) converts in place; handles, leaves and grads survive") {
  Net net;
  Tensor w = net.fc1->weight;  // a handle taken before the conversion
  (net.forward(Tensor::ones({3, 2})).sum()).backward();
  REQUIRE(w.grad().defined());
  const auto before = w.to_vector<double>();
  net.to(kFloat64);
  CHECK(w.dtype() == kFloat64);
  CHECK(net.fc1->weight.dtype() == kFloat64);
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  CHECK(w.grad().dtype() == kFloat64);
  CHECK(w.to_vector<double>() == before);  // float32 -> float64 is exact
  CHECK(net.block->bn->num_batches_tracked.dtype() == kInt64);
  CHECK(net.block->bn->running_var.dtype() == kFloat64);
  net.to(Device::cpu());  // a no-op
  CHECK_THROWS_AS(net.to(kInt64), Error);
}

TEST_CASE("module: zero_grad clears or zeroes gradients") {
  nn::Linear fc(3, 2);
  fc.forward(Tensor::ones({1, 3})).sum().backward();
  REQUIRE(fc.weight.grad().defined());
  fc.zero_grad(/*set_to_none=*/false);
  CHECK(fc.weight.grad().abs().sum().item() == 0.0);
  fc.zero_grad();
  CHECK_FALSE(fc.weight.grad().defined());
  CHECK_FALSE(fc.bias.grad().defined());
}

TEST_CASE("module: state_dict round trip copies values in place") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  Tensor handle = b.fc1->weight;
  REQUIRE(a.fc1->weight.to_vector<float>() != b.fc1->weight.to_vector<float>());
  a.block->bn->running_mean.fill_(0.25);
  a.block->bn->num_batches_tracked.fill_(7);
  const auto result = b.load_state_dict(a.state_dict());
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  for (const auto& [name, t] : a.state_dict())
    CHECK_MESSAGE(b.state_dict().at(name).to_vector<double>() == t.to_vector<double>(), name);
  CHECK(handle.is_same(b.fc1->weight));  // same tensor, new values
  CHECK(b.block->bn->num_batches_tracked.item() == 7);
  // The state dict aliases the module: it is not a snapshot.
  CHECK(a.state_dict().at("fc1.weight").shares_storage_with(a.fc1->weight));
}

TEST_CASE("module: strict load_state_dict says exactly what differs and changes nothing") {
  Net net;
  const auto before = net.fc1->weight.to_vector<float>();
  nn::OrderedDict<Tensor> sd = net.state_dict();

  SUBCASE("missing and unexpected keys") {
    nn::OrderedDict<Tensor> d;
    for (const auto& [k, v] : sd)
      if (k != "fc2.weight" && k != "block.counter") d.insert(k, v.clone());
    d.insert("fc3.weight", Tensor::zeros({1}));
    CHECK_THROWS_WITH_AS(
        net.load_state_dict(d),
        "load_state_dict for Net: missing keys: block.counter, fc2.weight; unexpected keys: "
        "fc3.weight",
        Error);
    // Non-strict loads the rest and reports the names.
    const auto r = net.load_state_dict(d, /*strict=*/false);
    CHECK(r.missing_keys == std::vector<std::string>{"block.counter", "fc2.weight"});
    CHECK(r.unexpected_keys == std::vector<std::string>{"fc3.weight"});
  }
  SUBCASE("shape and dtype") {
    nn::OrderedDict<Tensor> d;
    for (const auto& [k, v] : sd) {
      if (k == "fc1.weight") d.insert(k, Tensor::zeros({8, 2}));
      else if (k == "fc1.bias") d.insert(k, Tensor::zeros({4}, {.dtype = kFloat64}));
      else d.insert(k, v.clone());
    }
    CHECK_THROWS_WITH_AS(net.load_state_dict(d),
                         "load_state_dict for Net: shape of fc1.weight: [8, 2] in the dict vs "
                         "[4, 2] expected; dtype of fc1.bias: float64 in the dict vs float32 "
                         "expected",
                         Error);
    // Shape errors are errors even when not strict.
    CHECK_THROWS_AS(net.load_state_dict(d, false), Error);
    CHECK(net.fc1->weight.to_vector<float>() == before);
  }
}

TEST_CASE("module: str() prints each layer with its parameter count and the total") {
  struct Small : nn::Module {
    std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(2, 16));
    std::shared_ptr<nn::SiLU> act = register_module("act", std::make_shared<nn::SiLU>());
    std::shared_ptr<nn::Sequential> head = register_module(
        "head", std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(16, 1)));
  };
  Small m;
  const std::string expected =
      "Small(  # 65\n"
      "  (fc1): Linear(in_features=2, out_features=16, bias=true)  # 48\n"
      "  (act): SiLU()\n"
      "  (head): Sequential(  # 17\n"
      "    (0): Linear(in_features=16, out_features=1, bias=true)  # 17\n"
      "  )\n"
      ")\n"
      "Total parameters: 65 (65 trainable)";
  CHECK(m.str() == expected);
  CHECK(nn::Conv2d(3, 8, 3, {.stride = 2, .padding = 1}).str() ==
        "Conv2d(3, 8, kernel_size=3, stride=2, padding=1)  # 224\nTotal parameters: 224 (224 "
        "trainable)");
}

TEST_CASE("module: Sequential chains forward, names children by position") {
  manual_seed(0);
  auto seq = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 5),
                                              std::make_shared<nn::ReLU>(),
                                              std::make_shared<nn::Linear>(5, 2));
  seq->push_back("out", std::make_shared<nn::Identity>());
  CHECK(seq->size() == 4);
  CHECK(keys(seq->named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  Tensor x = Tensor::randn({4, 3});
  Tensor expected = seq->at<nn::Linear>(2)->forward(seq->at<nn::Linear>(0)->forward(x).relu());
  CHECK(seq->forward(x).to_vector<float>() == expected.to_vector<float>());
  CHECK_THROWS_WITH_AS(seq->at<nn::Linear>(1), doctest::Contains("ReLU"), Error);

  nn::ModuleList list(std::make_shared<nn::Linear>(1, 1), std::make_shared<nn::Linear>(1, 2));
  CHECK(list.size() == 2);
  CHECK(keys(list.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  CHECK_THROWS_AS(list.forward(x), NotImplemented);
}

TEST_CASE("module: a shared submodule's parameters are listed once") {
  struct Tied : nn::Module {
    std::shared_ptr<nn::Linear> a = register_module("a", std::make_shared<nn::Linear>(3, 3));
    std::shared_ptr<nn::Linear> b = register_module("b", a);
  } tied;
  CHECK(keys(tied.named_parameters()) == std::vector<std::string>{"a.weight", "a.bias"});
  CHECK(tied.state_dict().size() == 4);  // state_dict keeps both names, as torch
  optim::SGD opt(tied.parameters(), 0.1);  // no "appears twice"
  CHECK(tied.num_parameters() == 12);
}

TEST_CASE("module: OrderedDict keeps insertion order and rejects duplicates") {
  nn::OrderedDict<int> d;
  d.insert("b", 1);
  d.insert("a", 2);
  CHECK(d.keys() == std::vector<std::string>{"b", "a"});
  CHECK(d.at("a") == 2);
  CHECK(d.find("c") == nullptr);
  CHECK_THROWS_WITH_AS(d.insert("a", 3), doctest::Contains("duplicate key 'a'"), Error);
  CHECK_THROWS_WITH_AS(d.at("c"), doctest::Contains("no key 'c'"), Error);
  d.insert_or_assign("a", 5);
  CHECK(d.at("a") == 5);
  CHECK(d.to_map().begin()->first == "a");
}
