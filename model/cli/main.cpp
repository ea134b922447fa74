// slowfast-cli: the engine from the command line. Each subcommand lives in its own cmd_*.cpp
// and registers itself in commands.h.
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "slowfast.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: slowfast-cli COMMAND [options]\n\ncommands:\n";
  for (const auto& command : slowfast::cli::commands()) {
    out << "  " << command.name << "\t" << command.summary << "\n";
  }
  out << "\n'slowfast-cli COMMAND --help' describes a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  for (const auto& command : slowfast::cli::commands()) {
    if (command.name == argv[1]) {
      try {
        return command.run(argc - 1, argv + 1);
      } catch (const std::exception& e) {
        std::cerr << "slowfast-cli " << command.name << ": " << e.what() << "\n";
        return 1;
      }
    }
  }
  std::cerr << "slowfast-cli: unknown command '" << argv[1] << "'\n";
  usage(std::cerr);
  return 2;
}
