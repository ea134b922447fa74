#include "prompt.h"

#include <algorithm>

#include "slowfast.h"
#include "tokenizer/chat_template.h"

namespace slowfast {

int64_t image_position(const std::vector<int64_t>& ids) {
  const auto image = std::find(ids.begin(), ids.end(), kImageTokenIndex);
  if (image == ids.end() || std::count(ids.begin(), ids.end(), kImageTokenIndex) != 1) {
    throw Error(
        "the prompt must hold exactly one image position; do not put '<image>' in the question");
  }
  return image - ids.begin();
}

Prompt embed_prompt(Qwen2ModelImpl& backbone, const std::vector<int64_t>& ids,
                    const torch::Tensor& fast, const std::vector<int64_t>& continuation,
                    int64_t max_length) {
  const int64_t image = image_position(ids);
  std::vector<int64_t> before(ids.begin(), ids.begin() + image);
  std::vector<int64_t> after(ids.begin() + image + 1, ids.end());
  after.insert(after.end(), continuation.begin(), continuation.end());
  torch::Tensor visual = fast;  // [F, H]
  // Truncating the parts gives the rows truncating the embedded sequence would, without
  // embedding a long prompt first.
  if (max_length > 0) {
    const auto keep = [&](int64_t available) {
      const int64_t kept = std::max<int64_t>(0, std::min(available, max_length));
      max_length -= kept;
      return kept;
    };
    before.resize(keep(static_cast<int64_t>(before.size())));
    visual = visual.narrow(0, 0, keep(visual.size(0)));
    after.resize(keep(static_cast<int64_t>(after.size())));
  }
  const auto options = backbone.weight_options();
  const auto embed = [&](const std::vector<int64_t>& part) {
    return backbone.embed(torch::tensor(part, torch::kInt64).to(options.device()));  // [n, H]
  };
  const int64_t fast_rows = visual.size(0);
  const int64_t prompt_rows = static_cast<int64_t>(ids.size()) - 1 + fast.size(0);

  Prompt prompt;
  prompt.embeds = torch::cat({embed(before), visual.to(options), embed(after)});  // [L, H]
  const int64_t rows = prompt.embeds.size(0);
  prompt.is_text = torch::zeros({rows}, torch::TensorOptions().dtype(torch::kBool));
  // Text rows of the prompt attend to the slow tokens; visual rows and the continuation do not.
  prompt.is_text.narrow(0, 0, std::min(rows, prompt_rows)).fill_(true);
  prompt.is_text.narrow(0, static_cast<int64_t>(before.size()), fast_rows).fill_(false);
  prompt.is_text = prompt.is_text.to(options.device());
  return prompt;
}

}  // namespace slowfast
