// The multimodal prompt as the language model reads it (spec section 6): the text before the
// image position, the window's fast tokens, the text after it. Built here once for generation
// (engine.cpp) and for teacher forcing (train/trainer.cpp), so both feed the model alike.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "text/generate.h"
#include "text/qwen2.h"

namespace slowfast {

// `ids`: the prompt's ids with exactly one kImageTokenIndex (tokenize_with_image); `fast`: [F, H]
// visual tokens put in its place. `continuation`: text ids appended after the prompt (the answer,
// for teacher forcing); they do not attend to the slow tokens, as decode steps do not.
// `max_length` > 0 truncates the sequence to that many rows before anything is embedded, as the
// original truncates to tokenizer_model_max_length. Returns embeds [L, H] and is_text [L] on the
// model's device; `memory` is left for the caller.
Prompt embed_prompt(Qwen2ModelImpl& backbone, const std::vector<int64_t>& ids,
                    const torch::Tensor& fast, const std::vector<int64_t>& continuation = {},
                    int64_t max_length = 0);

// Rows of `ids` before the image position, i.e. where the fast tokens start.
int64_t image_position(const std::vector<int64_t>& ids);

}  // namespace slowfast
