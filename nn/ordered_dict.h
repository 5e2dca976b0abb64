#pragma once
// OrderedDict<V>: name -> value in insertion order, the container behind
// named_parameters(), named_buffers(), named_children() and state_dict().
//
//   for (const auto& [name, p] : model.named_parameters()) fmt::print("{} {}\n", name, p);
//   Tensor w = sd.at("fc1.weight");
//
// Keys are unique (insert throws on a duplicate); lookups by name are O(1); iteration
// follows insertion order, like Python's dict and torch's OrderedDict.
#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace kiln::nn {

template <class V>
class OrderedDict {
 public:
  using Item = std::pair<std::string, V>;
  using iterator = typename std::vector<Item>::iterator;
  using const_iterator = typename std::vector<Item>::const_iterator;

  OrderedDict() = default;
  OrderedDict(std::initializer_list<Item> items) {
    for (const auto& item : items) insert(item.first, item.second);
  }
  // From a std::map (sorted by name), e.g. the tensors of load_safetensors().
  OrderedDict(const std::map<std::string, V>& map) {  // NOLINT: implicit on purpose
    for (const auto& [key, value] : map) insert(key, value);
  }

  // Adds key -> value at the end; throws when the key is already present.
  void insert(std::string key, V value) {
    KILN_CHECK(index_.find(key) == index_.end(), "OrderedDict: duplicate key '{}'", key);
    index_.emplace(key, items_.size());
    items_.emplace_back(std::move(key), std::move(value));
  }
  // Replaces the value of an existing key, or inserts it at the end.
  void insert_or_assign(std::string key, V value) {
    if (auto it = index_.find(key); it != index_.end()) {
      items_[it->second].second = std::move(value);
    } else {
      insert(std::move(key), std::move(value));
    }
  }

  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  // The value of `key`; throws naming the key when it is absent.
  const V& at(const std::string& key) const {
    auto it = index_.find(key);
    KILN_CHECK(it != index_.end(), "OrderedDict: no key '{}'", key);
    return items_[it->second].second;
  }
  V& at(const std::string& key) {
    return const_cast<V&>(static_cast<const OrderedDict&>(*this).at(key));
  }
  // Pointer to the value, or nullptr when absent.
  const V* find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const Item& operator[](std::size_t i) const { return items_.at(i); }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& item : items_) out.push_back(item.first);
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    out.reserve(items_.size());
    for (const auto& item : items_) out.push_back(item.second);
    return out;
  }
  // A sorted copy, e.g. for save_safetensors().
  std::map<std::string, V> to_map() const { return {items_.begin(), items_.end()}; }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace kiln::nn
