// Per-request key/value cache of the decoder's self-attention, preallocated and written in place.
// One request at a time: reset() starts the next request and reuses the buffers, which only grow
// when a request needs more positions than any before it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace slowfast {

struct KVCacheShape {
  int64_t num_layers = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

class KVCache {
 public:
  KVCache() = default;

  // Makes room for `capacity` positions of `shape` in `options` (dtype, device). Positions already
  // cached are kept; buffers are reallocated only when they are too small or of another
  // shape/dtype/device.
  void reserve(const KVCacheShape& shape, int64_t capacity, const torch::TensorOptions& options);

  // Forgets every cached position; the buffers stay allocated for the next request.
  void reset() { length_ = 0; }

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  // Bytes held by the buffers.
  int64_t bytes() const;

  // key, value: [KVH, L, D] of `layer` for positions length() .. length()+L-1, copied into the
  // buffers -> views of that layer's keys and values for positions 0 .. length()+L-1,
  // each [KVH, length()+L, D]. Every layer appends before advance(L) moves length().
  std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor& key,
                                                 const torch::Tensor& value);
  // append() of one position, row `row` of a batched decode step's keys and values [B, KVH, D].
  // On the CPU it copies the row's values directly: an eight-answer step appends 8 rows in every
  // layer, and the views and copies append() needs took 1.4 ms of it.
  std::pair<torch::Tensor, torch::Tensor> append_row(int64_t layer, const torch::Tensor& keys,
                                                     const torch::Tensor& values, int64_t row);
  void advance(int64_t count);

 private:
  void check_room(int64_t layer, int64_t count) const;

  KVCacheShape shape_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  std::vector<torch::Tensor> keys_;    // per layer [KVH, capacity, D]
  std::vector<torch::Tensor> values_;  // per layer [KVH, capacity, D]
};

}  // namespace slowfast
