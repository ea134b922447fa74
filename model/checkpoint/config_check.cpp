#include "checkpoint/config_check.h"

#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "slowfast.h"

namespace slowfast {
namespace {

// Checkpoint tensor names of the Hugging Face release (spec section 1).
constexpr char kLayerPrefix[] = "model.layers.";
constexpr char kStagePrefix[] = "model.vision_tower.vision_tower.stages.";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

// The distinct indices N of names "<prefix>N.<rest>".
std::set<int64_t> indices_under(const Checkpoint& checkpoint, const std::string& prefix) {
  std::set<int64_t> out;
  for (const auto& name : checkpoint.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* digits = name.c_str() + prefix.size();
    char* stop = nullptr;
    const long long index = std::strtoll(digits, &stop, 10);
    if (stop != digits && *stop == '.' && index >= 0) out.insert(index);
  }
  return out;
}

class Checker {
 public:
  Checker(const Checkpoint& checkpoint, std::string origin)
      : checkpoint_(checkpoint), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error("config " + origin_ + ": key '" + key + "' " + problem + " (checkpoint " +
                checkpoint_.path() + ")");
  }

  // Dimension `dim` of tensor `name` must equal `value` (config key `key`).
  void dimension(const std::string& name, size_t dim, int64_t value, const std::string& key) const {
    if (!checkpoint_.contains(name)) missing(name + "'", key);
    const std::vector<int64_t>& shape = checkpoint_.info(name).shape;
    if (shape.size() <= dim || shape[dim] != value) {
      fail(key, "is " + std::to_string(value) + " but tensor '" + name + "' has shape " +
                    shape_text(shape));
    }
  }

  // Without the tensor the size is unconfirmed: refused rather than allocated.
  [[noreturn]] void missing(const std::string& what, const std::string& key) const {
    throw Error("checkpoint " + checkpoint_.path() + " has no tensor '" + what +
                ", which every SlowFast checkpoint holds, so config " + origin_ + "'s '" + key +
                "' cannot be checked: is this a SlowFast checkpoint?");
  }

  // The config's count of numbered children under `prefix` must be the checkpoint's.
  void count(const std::string& prefix, int64_t value, const std::string& key,
             const std::string& what) const {
    const std::set<int64_t> found = indices_under(checkpoint_, prefix);
    if (found.empty()) missing(prefix + "0.*'", key);
    const int64_t stored = *found.rbegin() + 1;
    if (stored != value) {
      fail(key, "is " + std::to_string(value) + " but the checkpoint holds " +
                    std::to_string(stored) + " " + what + " (" + prefix + "0.." + prefix +
                    std::to_string(stored - 1) + ".)");
    }
  }

 private:
  const Checkpoint& checkpoint_;
  std::string origin_;
};

}  // namespace

void check_config_against_checkpoint(const Config& config, const Checkpoint& checkpoint,
                                     const std::string& config_origin) {
  const Checker check(checkpoint, config_origin);
  // Counts first: a layer count of 10^5 must not wait for anything else.
  check.count(kLayerPrefix, config.num_hidden_layers, "num_hidden_layers", "decoder layers");
  const VisionConfig& vision = config.vision;
  for (size_t stage = 0; stage < vision.depths.size(); ++stage) {
    const std::string prefix = kStagePrefix + std::to_string(stage) + ".";
    check.count(prefix + "blocks.", vision.depths[stage], "vision_config.depths",
                "ConvNeXt blocks in stage " + std::to_string(stage));
    check.dimension(prefix + "blocks.0.conv_dw.weight", 0, vision.dims[stage],
                    "vision_config.dims");
  }

  const std::string embed = "model.embed_tokens.weight";
  check.dimension(embed, 0, config.vocab_size, "vocab_size");
  check.dimension(embed, 1, config.hidden_size, "hidden_size");
  const std::string first = kLayerPrefix + std::string("0.");
  check.dimension(first + "mlp.gate_proj.weight", 0, config.intermediate_size, "intermediate_size");
  check.dimension(first + "self_attn.q_proj.weight", 0, config.hidden_size, "hidden_size");
  check.dimension(first + "self_attn.k_proj.weight", 0,
                  config.num_key_value_heads * config.head_dim(), "num_key_value_heads");
  check.dimension("model.mm_projector.0.weight", 1, config.mm_hidden_size, "mm_hidden_size");
}

}  // namespace slowfast
