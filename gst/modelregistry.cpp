#include "modelregistry.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

namespace gstslowfast {
namespace {

using Key = std::tuple<std::string, slowfast::Device, slowfast::DType, bool, int>;

struct Registry {
  std::mutex mutex;  // held during a load, so a second request for any model waits for it
  std::map<Key, std::weak_ptr<const slowfast::Model>> models;
};

Registry& registry() {
  static Registry* instance = new Registry();  // never destroyed: elements may outlive statics
  return *instance;
}

std::string canonical_dir(const std::string& dir) {
  std::error_code error;
  const auto path = std::filesystem::weakly_canonical(dir, error);
  return error ? dir : path.string();
}

}  // namespace

SharedModel acquire_model(const slowfast::LoadOptions& options,
                          const std::function<void()>& on_load) {
  Registry& r = registry();
  const Key key{canonical_dir(options.model_dir), options.device, options.dtype,
                options.weights_in_memory, options.max_batch};
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto it = r.models.begin(); it != r.models.end();) {
    it = it->second.expired() ? r.models.erase(it) : std::next(it);
  }
  auto found = r.models.find(key);
  if (found != r.models.end()) {
    if (auto model = found->second.lock()) return {model, false};
  }
  if (on_load) on_load();
  SharedModel shared{slowfast::Model::load(options), true};
  r.models[key] = shared.model;
  return shared;
}

}  // namespace gstslowfast
