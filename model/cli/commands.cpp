#include "cli/commands.h"

namespace slowfast::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"run", "answer a prompt about frames (.npy) or a video file", run_run},
      {"tokenize", "text (JSON string per line) -> ids (JSON array per line)", run_tokenize},
      {"detokenize", "ids (JSON array per line) -> text (JSON string per line)", run_detokenize},
  };
  return all;
}

}  // namespace slowfast::cli
