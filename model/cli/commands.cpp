#include "cli/commands.h"

namespace slowfast::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
  };
  return all;
}

}  // namespace slowfast::cli
