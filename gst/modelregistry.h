// Models shared by every element of the process: one load per (directory, device, dtype,
// weights-in-memory, max-batch), kept while any element holds it, so N cameras on one model cost
// one model's memory, and their frames and answers go through the model's one scheduler.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "slowfast.h"

namespace gstslowfast {

struct SharedModel {
  std::shared_ptr<const slowfast::Model> model;
  bool loaded_now = false;  // false: another holder had already loaded it
};

// Returns the loaded model for `options`, loading it when no one holds it (`on_load` is called
// first, only then). Concurrent calls for the same model wait for one load. Throws
// slowfast::Error when loading fails.
SharedModel acquire_model(const slowfast::LoadOptions& options,
                          const std::function<void()>& on_load = nullptr);

}  // namespace gstslowfast
