// The config's sizes against a checkpoint's header, before any module is built: a config that
// disagrees with its weights (or claims absurd sizes) is refused in milliseconds, naming the key,
// instead of allocating and initialising modules for minutes first.
#pragma once

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"

namespace slowfast {

// Throws slowfast::Error naming the config key, the checkpoint and the tensor when the layer
// count, vision depths and widths, vocabulary, hidden, intermediate or key/value sizes differ
// from the shapes stored in `checkpoint`, or when a tensor that confirms one is missing.
void check_config_against_checkpoint(const Config& config, const Checkpoint& checkpoint,
                                     const std::string& config_origin);

}  // namespace slowfast
