#include "tokenizer/chat_template.h"

#include <algorithm>

namespace slowfast {

namespace {

// conv_qwen of llava/conversation.py: ChatML separators around each turn.
constexpr std::string_view kSystem = "<|im_start|>system\nYou are a helpful assistant.";
constexpr std::string_view kUserRole = "<|im_start|>user";
constexpr std::string_view kAssistantRole = "<|im_start|>assistant";
constexpr std::string_view kSeparator = "<|im_end|>";
// llava's DEFAULT_IM_START_TOKEN / DEFAULT_IM_END_TOKEN.
constexpr std::string_view kImageStart = "<im_start>";
constexpr std::string_view kImageEnd = "<im_end>";

}  // namespace

std::string qwen_1_5_prompt(std::string_view question, bool use_im_start_end) {
  std::string message;
  if (use_im_start_end) {
    message.append(kImageStart).append(kImageToken).append(kImageEnd);
  } else {
    message.append(kImageToken);
  }
  message.append("\n").append(question);

  std::string prompt;
  prompt.append(kSystem).append(kSeparator).append("\n");
  prompt.append(kUserRole).append("\n").append(message).append(kSeparator).append("\n");
  prompt.append(kAssistantRole).append("\n");
  return prompt;
}

std::vector<int64_t> tokenize_with_image(const Tokenizer& tokenizer, std::string_view prompt) {
  // Python's str.split: every occurrence, empty pieces kept.
  std::vector<std::vector<int64_t>> chunks;
  size_t begin = 0;
  while (true) {
    const size_t found = prompt.find(kImageToken, begin);
    const size_t end = found == std::string_view::npos ? prompt.size() : found;
    chunks.push_back(tokenizer.encode(prompt.substr(begin, end - begin), true));
    if (found == std::string_view::npos) break;
    begin = found + kImageToken.size();
  }

  std::vector<int64_t> ids;
  size_t offset = 0;
  const auto bos = tokenizer.bos_token_id();
  if (!chunks.front().empty() && bos && chunks.front().front() == *bos) {
    offset = 1;
    ids.push_back(*bos);
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) ids.push_back(kImageTokenIndex);
    const auto& chunk = chunks[i];
    ids.insert(ids.end(), chunk.begin() + std::min(offset, chunk.size()), chunk.end());
  }
  return ids;
}

}  // namespace slowfast
