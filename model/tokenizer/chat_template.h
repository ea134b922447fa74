// The prompt of the Slow-Fast release: llava's "qwen_1_5" conversation template, and the split of
// a prompt on "<image>" into token ids with IMAGE_TOKEN_INDEX where the visual tokens go
// (llava/conversation.py and tokenizer_image_token in llava/mm_utils.py).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace slowfast {

// The placeholder id of the visual tokens in input_ids (llava's IMAGE_TOKEN_INDEX).
constexpr int64_t kImageTokenIndex = -200;
constexpr std::string_view kImageToken = "<image>";

// The full qwen_1_5 prompt for one question about a video: system message, the user turn with
// "<image>\n" before the question, and the open assistant turn. With `use_im_start_end`
// (config mm_use_im_start_end) the image is wrapped as "<im_start><image><im_end>".
std::string qwen_1_5_prompt(std::string_view question, bool use_im_start_end = false);

// Splits `prompt` on every "<image>", encodes each piece on its own (with the tokenizer's
// special-token template; none for Qwen2) and joins the pieces with one kImageTokenIndex each.
// When the first piece starts with the tokenizer's BOS, one BOS is kept and every piece loses
// its first id, as tokenizer_image_token does.
std::vector<int64_t> tokenize_with_image(const Tokenizer& tokenizer, std::string_view prompt);

}  // namespace slowfast
