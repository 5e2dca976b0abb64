#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/random_stream.h"

namespace kiln::data {

namespace {
constexpr std::uint64_t kShuffleTag = 0x53485546ull;  // "SHUF"
constexpr std::uint64_t kFlipTag = 0x464c4950ull;     // "FLIP"
}  // namespace

DataLoader::DataLoader(Dataset data, LoaderOptions options)
    : data_(std::move(data)), options_(options) {
  data_.check("DataLoader");
  data_.images = data_.images.contiguous();
  if (data_.labels.defined()) data_.labels = data_.labels.contiguous();
  n_ = data_.size();
  item_numel_ = n_ > 0 ? data_.images.numel() / n_ : 0;
  KILN_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got {}",
             options_.batch_size);
  KILN_CHECK(options_.prefetch >= 0, "DataLoader: prefetch must be >= 0, got {}",
             options_.prefetch);
  batches_per_epoch_ = options_.drop_last ? n_ / options_.batch_size
                                          : (n_ + options_.batch_size - 1) / options_.batch_size;
  KILN_CHECK(batches_per_epoch_ >= 1,
             "DataLoader: data set '{}' of {} items gives no batch of {}{}", data_.name, n_,
             options_.batch_size, options_.drop_last ? " (drop_last is set)" : "");
  KILN_CHECK(!options_.random_flip || data_.images.dim() == 4,
             "DataLoader: random_flip needs images [N, C, H, W], '{}' has shape {}", data_.name,
             shape_str(data_.images.shape()));

  if (options_.normalize == Normalize::Channel) {
    // E31 (Keras chapter): m_c and s_c over every axis but the channel axis (dim 1), the
    // population standard deviation floored at 1e-7 (as diffusion::ChannelNormalizer).
    const std::int64_t c = data_.images.size(1);
    const std::int64_t inner = item_numel_ / c;
    const float* x = data_.images.data_ptr<float>();
    mean_.assign(static_cast<size_t>(c), 0.0);
    std_.assign(static_cast<size_t>(c), 0.0);
    const double count = static_cast<double>(n_ * inner);
    for (std::int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
      for (std::int64_t i = 0; i < n_; ++i) {
        const float* p = x + i * item_numel_ + ch * inner;
        for (std::int64_t k = 0; k < inner; ++k) s += p[k];
      }
      const double m = s / count;
      double v = 0;
#pragma omp parallel for reduction(+ : v) schedule(static)
      for (std::int64_t i = 0; i < n_; ++i) {
        const float* p = x + i * item_numel_ + ch * inner;
        for (std::int64_t k = 0; k < inner; ++k) v += (p[k] - m) * (p[k] - m);
      }
      mean_[ch] = m;
      std_[ch] = std::max(std::sqrt(v / count), 1e-7);
    }
  }
  if (options_.prefetch > 0) start_worker();
}

DataLoader::~DataLoader() { stop_worker(); }

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  if (!options_.shuffle) return order;
  // Fisher-Yates (Note [Loader determinism]).
  detail::PhiloxStream rng(detail::mix_seed(options_.seed, kShuffleTag),
                           static_cast<std::uint64_t>(epoch) << 40);
  for (std::int64_t i = n_ - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(i + 1)));
    std::swap(order[i], order[j]);
  }
  return order;
}

Batch DataLoader::make_batch(std::int64_t epoch, std::int64_t position) {
  if (order_epoch_ != epoch) {
    order_ = epoch_order(epoch);
    order_epoch_ = epoch;
  }
  const std::int64_t start = position * options_.batch_size;
  const std::int64_t count = std::min(options_.batch_size, n_ - start);
  Batch b;
  b.epoch = epoch;
  b.position = position;
  b.indices.assign(order_.begin() + start, order_.begin() + start + count);

  Shape shape = data_.images.shape();
  shape[0] = count;
  b.images = Tensor::empty(shape);
  float* dst = b.images.data_ptr<float>();
  const float* src = data_.images.data_ptr<float>();
  const bool image4d = data_.images.dim() == 4;
  const std::int64_t channels = data_.images.size(1);
  const std::int64_t inner = item_numel_ / channels;
  const std::int64_t width = image4d ? data_.images.size(3) : 1;
  const std::uint64_t flip_key = detail::mix_seed(options_.seed, kFlipTag);

  for (std::int64_t j = 0; j < count; ++j) {
    const float* s = src + b.indices[j] * item_numel_;
    float* d = dst + j * item_numel_;
    const bool flip =
        options_.random_flip &&
        (philox::stream_block(flip_key, (static_cast<std::uint64_t>(epoch) << 40) +
                                            static_cast<std::uint64_t>(start + j))
             .v[0] & 1u);
    if (flip) {
      for (std::int64_t row = 0; row < item_numel_; row += width)
        std::reverse_copy(s + row, s + row + width, d + row);
    } else {
      std::copy_n(s, item_numel_, d);
    }
    // E31: the network sees x·2 - 1 (Ho et al.) or (x - m_c)/s_c (Keras chapter).
    switch (options_.normalize) {
      case Normalize::None: break;
      case Normalize::SignedUnit:
        for (std::int64_t k = 0; k < item_numel_; ++k) d[k] = d[k] * 2.0f - 1.0f;
        break;
      case Normalize::Channel:
        for (std::int64_t ch = 0; ch < channels; ++ch) {
          const auto m = static_cast<float>(mean_[ch]);
          const auto inv = static_cast<float>(1.0 / std_[ch]);
          for (std::int64_t k = ch * inner; k < (ch + 1) * inner; ++k) d[k] = (d[k] - m) * inv;
        }
        break;
    }
  }
  if (data_.labels.defined()) {
    b.labels = Tensor::empty({count}, {.dtype = kInt64});
    const std::int64_t* l = data_.labels.data_ptr<std::int64_t>();
    std::int64_t* out = b.labels.data_ptr<std::int64_t>();
    for (std::int64_t j = 0; j < count; ++j) out[j] = l[b.indices[j]];
  }
  return b;
}

Batch DataLoader::next() {
  Batch b;
  if (options_.prefetch == 0) {
    b = make_batch(state_.epoch, state_.position);
  } else {
    if (!worker_.joinable()) start_worker();  // after an error, or set_state
    Item item;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty(); });
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    changed_.notify_all();
    if (item.error) {
      stop_worker();  // the worker has stopped; the next call restarts it from state_
      std::rethrow_exception(item.error);
    }
    b = std::move(item.batch);
  }
  KILN_CHECK(b.epoch == state_.epoch && b.position == state_.position,
             "DataLoader: internal error: got batch {} of epoch {}, expected batch {} of {}",
             b.position, b.epoch, state_.position, state_.epoch);
  if (++state_.position == batches_per_epoch_) state_ = {state_.epoch + 1, 0};
  if (!options_.device.is_cpu()) {
    b.images = b.images.to(options_.device);
    if (b.labels.defined()) b.labels = b.labels.to(options_.device);
  }
  return b;
}

void DataLoader::set_state(LoaderState s) {
  KILN_CHECK(s.epoch >= 0 && s.position >= 0 && s.position < batches_per_epoch_,
             "DataLoader::set_state: position {} of epoch {} is outside the {} batches of an "
             "epoch", s.position, s.epoch, batches_per_epoch_);
  stop_worker();
  state_ = s;
  if (options_.prefetch > 0) start_worker();
}

void DataLoader::start_worker() {
  stop_ = false;
  queue_.clear();
  worker_ = std::thread([this, from = state_] { worker_loop(from); });
}

void DataLoader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
  queue_.clear();
  stop_ = false;
}

void DataLoader::worker_loop(LoaderState s) {
  const auto depth = static_cast<size_t>(options_.prefetch);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || queue_.size() < depth; });
      if (stop_) return;
    }
    Item item;
    try {
      item.batch = make_batch(s.epoch, s.position);
    } catch (...) {
      item.error = std::current_exception();
    }
    const bool failed = item.error != nullptr;
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      queue_.push_back(std::move(item));
    }
    changed_.notify_all();
    if (failed) return;  // nothing more to do until restarted
    if (++s.position == batches_per_epoch_) s = {s.epoch + 1, 0};
  }
}

Tensor DataLoader::normalize(const Tensor& x) const {
  switch (options_.normalize) {
    case Normalize::None: return x;
    case Normalize::SignedUnit: return x * 2.0 - 1.0;
    case Normalize::Channel: break;
  }
  KILN_CHECK(x.dim() >= 2 && x.size(1) == static_cast<std::int64_t>(mean_.size()),
             "DataLoader::normalize: x of shape {} does not have the {} channels (dim 1) the "
             "statistics were fitted on", shape_str(x.shape()), mean_.size());
  Shape s(static_cast<size_t>(x.dim()), 1);
  s[1] = static_cast<std::int64_t>(mean_.size());
  const Options o{.dtype = x.dtype(), .device = x.device()};
  return (x - Tensor::from_vector(mean_, s, o)) / Tensor::from_vector(std_, s, o);
}

Tensor DataLoader::denormalize(const Tensor& x) const {
  Tensor out;
  switch (options_.normalize) {
    case Normalize::None: out = x; break;
    case Normalize::SignedUnit: out = (x + 1.0) / 2.0; break;
    case Normalize::Channel: {
      KILN_CHECK(x.dim() >= 2 && x.size(1) == static_cast<std::int64_t>(mean_.size()),
                 "DataLoader::denormalize: x of shape {} does not have the {} channels (dim 1) "
                 "the statistics were fitted on", shape_str(x.shape()), mean_.size());
      Shape s(static_cast<size_t>(x.dim()), 1);
      s[1] = static_cast<std::int64_t>(mean_.size());
      const Options o{.dtype = x.dtype(), .device = x.device()};
      out = x * Tensor::from_vector(std_, s, o) + Tensor::from_vector(mean_, s, o);
      break;
    }
  }
  // E31: clip to the image range before writing (images only; points are not clipped).
  return data_.images.dim() >= 3 ? out.clamp(0.0, 1.0) : out;
}

// ---- Iterator ------------------------------------------------------------------------

DataLoader::Iterator::Iterator(DataLoader* loader, bool end) : loader_(loader) {
  if (end) return;
  epoch_ = loader_->state().epoch;
  fetch();
}

void DataLoader::Iterator::fetch() {
  done_ = loader_->state().epoch != epoch_;
  if (!done_) batch_ = loader_->next();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  fetch();
  return *this;
}

}  // namespace kiln::data
