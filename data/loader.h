#pragma once
// DataLoader: turns a Dataset into a stream of shuffled, augmented, normalised batches,
// prepared on a background thread.
//
//   data::DataLoader loader(data::make_shapes(10000, 0),
//                           {.batch_size = 128, .random_flip = true,
//                            .normalize = data::Normalize::SignedUnit, .seed = 1});
//   for (int step = 0; step < steps; ++step) {
//     data::Batch b = loader.next();          // b.images [128, 3, 32, 32] in [-1, 1]
//     ...
//     checkpoint["loader"] = loader.state();  // resume later with set_state
//   }
//   for (const data::Batch& b : loader) ...    // or: the rest of the current epoch
//
// Note [Loader determinism]
// Batch p of epoch e is a pure function of (dataset, options, e, p): the order of epoch e
// is a Fisher-Yates shuffle read from the Philox stream (mix(seed, "shuffle"), blocks
// from e << 40), and the flip of the j-th item of epoch e is one bit of block
// (e << 40) + j of the stream mix(seed, "flip"). Nothing depends on the thread, on the
// prefetch depth or on what was read before, so a loader restored with set_state({e, p})
// returns exactly the batches an uninterrupted run would have returned.
//
// Note [Prefetching]
// A worker thread assembles the batches in order into a bounded queue (options.prefetch
// deep) while the caller trains on the previous ones; next() pops one, waiting only when
// the worker is behind. Batches are built on the CPU; `device` moves each in next(), on
// the caller's thread. The destructor (and set_state) stops the worker and joins it: no
// thread outlives the loader. An exception in the worker is rethrown by next().
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "tensor/device.h"

namespace kiln::data {

// E31: what the network sees. None keeps the data's values ([0, 1] for images).
enum class Normalize {
  None,
  SignedUnit,  // x·2 - 1: [0, 1] to [-1, 1] (Ho et al.)
  Channel,     // (x - m_c)/s_c, m_c and s_c fitted per channel on the whole data set
};

struct LoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  // drop a last batch smaller than batch_size
  bool random_flip = false;  // mirror each image left-right with probability 1/2 ([N, C, H, W] only)
  Normalize normalize = Normalize::None;
  std::uint64_t seed = 0;
  std::int64_t prefetch = 4;  // batches prepared ahead on the worker; 0 = no thread
  Device device = Device::cpu();
};

struct Batch {
  Tensor images;  // float32 [B, ...] (normalised, flipped), on options.device
  Tensor labels;  // int64 [B], or undefined when the data set has no labels
  std::vector<std::int64_t> indices;  // the items of the data set in this batch
  std::int64_t epoch = 0;
  std::int64_t position = 0;  // this batch's index within its epoch
};

// Where the loader is: the next batch next() returns is batch `position` of `epoch`.
struct LoaderState {
  std::int64_t epoch = 0;
  std::int64_t position = 0;
  bool operator==(const LoaderState&) const = default;
};

class DataLoader {
 public:
  explicit DataLoader(Dataset data, LoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch; after the last batch of an epoch comes batch 0 of the next one.
  Batch next();

  LoaderState state() const { return state_; }
  // Continues from `s` (batch s.position of epoch s.epoch); see Note [Loader determinism].
  void set_state(LoaderState s);
  // Starts `epoch` from its first batch (set_state({epoch, 0})).
  void set_epoch(std::int64_t epoch) { set_state({epoch, 0}); }

  std::int64_t batches_per_epoch() const { return batches_per_epoch_; }
  std::int64_t size() const { return n_; }
  const Dataset& dataset() const { return data_; }
  const LoaderOptions& options() const { return options_; }
  // The order of the items in `epoch` (identity without shuffle).
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

  // E31 fitted statistics (Normalize::Channel; empty otherwise), per channel (dim 1).
  const std::vector<double>& channel_mean() const { return mean_; }
  const std::vector<double>& channel_std() const { return std_; }
  // E31 applied to data in [0, 1] ([B, C, ...], any device), and its inverse followed by
  // clipping to [0, 1] (for points: no clipping), ready for save_png.
  Tensor normalize(const Tensor& x) const;
  Tensor denormalize(const Tensor& x) const;

  // Iterates over the rest of the current epoch: for (const Batch& b : loader).
  class Iterator {
   public:
    Iterator(DataLoader* loader, bool end);
    const Batch& operator*() const { return batch_; }
    const Batch* operator->() const { return &batch_; }
    Iterator& operator++();
    bool operator!=(const Iterator& other) const { return done_ != other.done_; }

   private:
    void fetch();
    DataLoader* loader_;
    std::int64_t epoch_ = 0;
    bool done_ = true;
    Batch batch_;
  };
  Iterator begin() { return Iterator(this, false); }
  Iterator end() { return Iterator(this, true); }

 private:
  Batch make_batch(std::int64_t epoch, std::int64_t position);  // pure (Note [Loader determinism])
  void start_worker();
  void stop_worker();
  void worker_loop(LoaderState from);

  Dataset data_;
  LoaderOptions options_;
  std::int64_t n_ = 0, item_numel_ = 0, batches_per_epoch_ = 0;
  std::vector<double> mean_, std_;
  LoaderState state_;

  // The order of the most recent epoch (only touched by whichever thread builds batches).
  std::int64_t order_epoch_ = -1;
  std::vector<std::int64_t> order_;

  // Worker and its queue (Note [Prefetching]).
  struct Item {
    Batch batch;
    std::exception_ptr error;
  };
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  bool stop_ = false;
};

}  // namespace kiln::data
