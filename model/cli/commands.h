// The subcommands of slowfast-cli. To add one: write cmd_NAME.cpp defining `int run_NAME(int,
// char**)`, declare it here and list it in commands().
#pragma once

#include <string>
#include <vector>

namespace slowfast::cli {

struct Command {
  std::string name;
  std::string summary;
  int (*run)(int argc, char** argv);  // argv[0] is the command name
};

const std::vector<Command>& commands();

int run_run(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_detokenize(int argc, char** argv);

}  // namespace slowfast::cli
