#include "text/kv_cache.h"

#include <cstring>
#include <string>

#include <torch/torch.h>

#include "slowfast.h"

namespace slowfast {

void KVCache::reserve(const KVCacheShape& shape, int64_t capacity,
                      const torch::TensorOptions& options) {
  if (shape.num_layers <= 0 || shape.kv_heads <= 0 || shape.head_dim <= 0 || capacity < 0) {
    throw Error("KV cache: invalid shape (layers " + std::to_string(shape.num_layers) +
                ", kv heads " + std::to_string(shape.kv_heads) + ", head dim " +
                std::to_string(shape.head_dim) + ", capacity " + std::to_string(capacity) + ")");
  }
  const bool same_layout = !keys_.empty() && shape.num_layers == shape_.num_layers &&
                           shape.kv_heads == shape_.kv_heads && shape.head_dim == shape_.head_dim &&
                           keys_.front().dtype() == options.dtype() &&
                           keys_.front().device() == options.device();
  if (same_layout && capacity <= capacity_) return;
  if (!same_layout) length_ = 0;  // cached positions of another model layout are meaningless
  std::vector<torch::Tensor> keys, values;
  keys.reserve(shape.num_layers);
  values.reserve(shape.num_layers);
  for (int64_t layer = 0; layer < shape.num_layers; ++layer) {
    keys.push_back(torch::empty({shape.kv_heads, capacity, shape.head_dim}, options));
    values.push_back(torch::empty({shape.kv_heads, capacity, shape.head_dim}, options));
    if (length_ > 0) {
      keys.back().narrow(1, 0, length_).copy_(keys_[layer].narrow(1, 0, length_));
      values.back().narrow(1, 0, length_).copy_(values_[layer].narrow(1, 0, length_));
    }
  }
  keys_ = std::move(keys);
  values_ = std::move(values);
  shape_ = shape;
  capacity_ = capacity;
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (const auto& tensor : keys_) total += tensor.nbytes();
  for (const auto& tensor : values_) total += tensor.nbytes();
  return total;
}

void KVCache::check_room(int64_t layer, int64_t count) const {
  if (layer < 0 || layer >= static_cast<int64_t>(keys_.size())) {
    throw Error("KV cache: layer " + std::to_string(layer) + " out of range (cache has " +
                std::to_string(keys_.size()) + " layers)");
  }
  if (length_ + count > capacity_) {
    throw Error("KV cache: " + std::to_string(length_ + count) + " positions exceed the reserved " +
                std::to_string(capacity_));
  }
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(int64_t layer, const torch::Tensor& key,
                                                        const torch::Tensor& value) {
  const int64_t count = key.size(1);
  check_room(layer, count);
  keys_[layer].narrow(1, length_, count).copy_(key);
  values_[layer].narrow(1, length_, count).copy_(value);
  return {keys_[layer].narrow(1, 0, length_ + count), values_[layer].narrow(1, 0, length_ + count)};
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append_row(int64_t layer,
                                                            const torch::Tensor& keys,
                                                            const torch::Tensor& values,
                                                            int64_t row) {
  check_room(layer, 1);
  const torch::Tensor& key_buffer = keys_[layer];
  const bool direct = keys.is_cpu() && values.is_cpu() && keys.is_contiguous() &&
                      values.is_contiguous() && keys.dim() == 3 && keys.sizes() == values.sizes() &&
                      keys.size(1) == shape_.kv_heads && keys.size(2) == shape_.head_dim &&
                      row >= 0 && row < keys.size(0) && keys.dtype() == key_buffer.dtype() &&
                      values.dtype() == key_buffer.dtype() && key_buffer.is_cpu();
  if (!direct) {
    return append(layer, keys.narrow(0, row, 1).transpose(0, 1),
                  values.narrow(0, row, 1).transpose(0, 1));
  }
  // Each head's D values of the row go to position length_ of that head: [KVH, capacity, D].
  const int64_t head_bytes = shape_.head_dim * static_cast<int64_t>(keys.element_size());
  const auto* key_source =
      static_cast<const char*>(keys.data_ptr()) + row * shape_.kv_heads * head_bytes;
  const auto* value_source =
      static_cast<const char*>(values.data_ptr()) + row * shape_.kv_heads * head_bytes;
  auto* key_target = static_cast<char*>(key_buffer.data_ptr()) + length_ * head_bytes;
  auto* value_target = static_cast<char*>(values_[layer].data_ptr()) + length_ * head_bytes;
  for (int64_t head = 0; head < shape_.kv_heads; ++head) {
    std::memcpy(key_target + head * capacity_ * head_bytes, key_source + head * head_bytes,
                head_bytes);
    std::memcpy(value_target + head * capacity_ * head_bytes, value_source + head * head_bytes,
                head_bytes);
  }
  return {key_buffer.narrow(1, 0, length_ + 1), values_[layer].narrow(1, 0, length_ + 1)};
}

void KVCache::advance(int64_t count) {
  if (count < 0 || length_ + count > capacity_) {
    throw Error("KV cache: cannot advance by " + std::to_string(count) + " from " +
                std::to_string(length_) + " (capacity " + std::to_string(capacity_) + ")");
  }
  length_ += count;
}

}  // namespace slowfast
