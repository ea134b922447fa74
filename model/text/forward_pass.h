// What every decoder layer needs to know about the current forward pass.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "text/rope.h"

namespace slowfast {

struct ForwardPass {
  int64_t start = 0;  // cache position (and RoPE position) of the pass's first token
  RopeTables rope;    // for positions start .. start+L-1
  // Cross-attention inputs, both undefined when the pass has no cross-attention (decode steps,
  // passes without visual tokens): the slow tokens [M, H] and the rows of the pass that attend
  // to them (text tokens), [Lt] int64.
  torch::Tensor memory;
  torch::Tensor cross_rows;

  bool has_cross_attention() const { return memory.defined() && cross_rows.defined(); }
};

}  // namespace slowfast
