// Chapter 6: training. One small network fits y = sin(3x) three ways -- SGD, Adam and
// AdamW -- and the AdamW run also keeps an EMA of its weights (E30), evaluated beside the
// raw weights. Then a checkpoint round trip: save model + optimizer + EMA, load into a
// fresh model, and check it continues bit for bit.
#include <omp.h>

#include <filesystem>
#include <memory>

#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;

std::shared_ptr<nn::Sequential> make_net() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(1, 64), std::make_shared<nn::SiLU>(),
                                          std::make_shared<nn::Linear>(64, 64), std::make_shared<nn::SiLU>(),
                                          std::make_shared<nn::Linear>(64, 1));
}

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 6: optimizers, EMA, checkpoints");
  return tutorial::run([&] {
    omp_set_num_threads(1);  // a 64-wide MLP: threads would cost more than they save
    const std::int64_t steps = args.quick ? 40 : 1500;
    Generator data_gen(6);
    const Tensor x_test = Tensor::linspace(-1, 1, 256).reshape({256, 1});
    const Tensor y_test = (x_test * 3.0).sin();
    auto batch = [&](Tensor& x, Tensor& y) {
      x = Tensor::rand({64, 1}, {}, &data_gen) * 2.0 - 1.0;
      y = (x * 3.0).sin() + Tensor::randn({64, 1}, {}, &data_gen) * 0.1;  // noisy targets
    };
    std::vector<data::Series> curves;
    auto run = [&](const std::string& name, auto make_opt, bool with_ema) {
      manual_seed(60);  // the same initial weights for every optimizer
      auto net = make_net();
      auto opt = make_opt(net->parameters());
      nn::EMA ema(*net, 0.99);
      data::Series raw{.name = name}, averaged{.name = name + " + EMA 0.99"};
      Tensor x, y;
      for (std::int64_t step = 1; step <= steps; ++step) {
        // [region train_step]
        batch(x, y);
        opt->zero_grad();
        Tensor loss = mse_loss(net->forward(x), y);
        loss.backward();
        optim::clip_grad_norm_(net->parameters(), 1.0);
        opt->step();
        ema.update(*net);  // E30  θ_ema ← m θ_ema + (1 - m) θ
        // [endregion]
        if (step % 10 == 0) {
          NoGradGuard no_grad;
          raw.x.push_back(step), raw.y.push_back(mse_loss(net->forward(x_test), y_test).item());
          if (with_ema) {
            nn::EMA::Applied use(ema, *net);
            averaged.x.push_back(step), averaged.y.push_back(mse_loss(net->forward(x_test), y_test).item());
          }
        }
      }
      fmt::print("{:<8} test MSE after {} steps: {:.5f}\n", name, steps, raw.y.back());
      curves.push_back(raw);
      if (with_ema) curves.push_back(averaged);
    };
    run("SGD", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.05, .momentum = 0.9}); }, false);
    run("Adam", [](auto p) { return std::make_unique<optim::Adam>(p, 1e-3); }, false);
    run("AdamW", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 1e-3, .weight_decay = 1e-4}); }, true);
    data::save_line_plot(args.file("ch06-loss.png"), curves,
                         {.title = "fitting sin(3x): test MSE", .xlabel = "step", .ylabel = "MSE", .log_y = true});

    // [region checkpoint]
    manual_seed(61);
    auto net = make_net();
    optim::AdamW opt(net->parameters(), 1e-3);
    nn::EMA ema(*net, 0.99);
    Generator gen(62);
    const auto path = args.file("ch06-checkpoint.safetensors");
    nn::Checkpoint{.model = net.get(), .optimizer = &opt, .ema = &ema, .generator = &gen}.save(path, 0);
    auto fresh = make_net();  // different random weights ...
    optim::AdamW fresh_opt(fresh->parameters(), 1e-3);
    nn::EMA fresh_ema(*fresh, 0.99);
    Generator fresh_gen(0);
    nn::Checkpoint{.model = fresh.get(), .optimizer = &fresh_opt, .ema = &fresh_ema, .generator = &fresh_gen}.load(path);
    // [endregion]
    const double diff = amax(abs(net->forward(x_test) - fresh->forward(x_test))).item();
    fmt::print("checkpoint round trip: largest output difference {}\n", diff);
    KILN_CHECK(diff == 0.0, "a loaded checkpoint must reproduce the model exactly");
    std::filesystem::remove(path);
  });
}
