// slowfast-cli tokenize / detokenize: the tokenizer on its own, one JSON value per line, for
// scripts and for checking ids against other tokenizers.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "slowfast.h"
#include "tokenizer/tokenizer.h"

namespace slowfast::cli {

namespace {

using nlohmann::json;

constexpr const char* kTokenizeUsage =
    "usage: slowfast-cli tokenize --tokenizer DIR_OR_FILE\n"
    "  Reads one JSON string per line on stdin and prints its ids as one JSON array per line.\n"
    "  Special tokens in the text (e.g. <|im_end|>) are recognised; no BOS/EOS is added.\n"
    "  --tokenizer  a model directory (tokenizer.json, or vocab.json + merges.txt) or a\n"
    "               tokenizer.json file\n";
constexpr const char* kDetokenizeUsage =
    "usage: slowfast-cli detokenize --tokenizer DIR_OR_FILE [--skip-special]\n"
    "  Reads one JSON array of ids per line on stdin and prints the text as one JSON string per\n"
    "  line (bytes that do not form UTF-8 become U+FFFD).\n"
    "  --tokenizer     a model directory or a tokenizer.json file\n"
    "  --skip-special  leave special tokens (e.g. <|im_end|>) out of the text\n";

struct Options {
  std::string tokenizer;
  bool skip_special = false;
};

// Returns 0 when the command should run, else the exit code (after printing help or an error).
int parse_options(int argc, char** argv, bool is_detokenize, Options& options) {
  const char* usage = is_detokenize ? kDetokenizeUsage : kTokenizeUsage;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return -1;
    } else if (arg == "--tokenizer" && i + 1 < argc) {
      options.tokenizer = argv[++i];
    } else if (arg.rfind("--tokenizer=", 0) == 0) {
      options.tokenizer = arg.substr(std::strlen("--tokenizer="));
    } else if (is_detokenize && arg == "--skip-special") {
      options.skip_special = true;
    } else {
      std::cerr << argv[0] << ": unknown or incomplete option '" << arg << "'\n" << usage;
      return 2;
    }
  }
  if (options.tokenizer.empty()) {
    std::cerr << argv[0] << ": --tokenizer is required\n" << usage;
    return 2;
  }
  return 0;
}

// Runs `convert` on each line's JSON value and prints the result; stops at the first bad line
// with a message naming it.
template <typename Convert>
int for_each_line(const char* command, Convert convert) {
  std::string line;
  size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      json value;
      try {
        value = json::parse(line);
      } catch (const json::parse_error& e) {
        throw Error(std::string("not JSON: ") + e.what());
      }
      std::cout << convert(value) << '\n' << std::flush;
    } catch (const std::exception& e) {
      std::cerr << "slowfast-cli " << command << ": stdin line " << number << ": " << e.what()
                << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  Options options;
  if (const int code = parse_options(argc, argv, false, options)) return code < 0 ? 0 : code;
  const auto tokenizer = Tokenizer::load(options.tokenizer);
  return for_each_line("tokenize", [&](const json& value) {
    if (!value.is_string()) throw Error("expected a JSON string, got " + value.dump());
    return json(tokenizer->encode(value.get<std::string>())).dump();
  });
}

int run_detokenize(int argc, char** argv) {
  Options options;
  if (const int code = parse_options(argc, argv, true, options)) return code < 0 ? 0 : code;
  const auto tokenizer = Tokenizer::load(options.tokenizer);
  return for_each_line("detokenize", [&](const json& value) {
    if (!value.is_array()) throw Error("expected a JSON array of ids, got " + value.dump());
    std::vector<int64_t> ids;
    for (const json& id : value) {
      if (!id.is_number_integer()) throw Error("expected integer ids, got " + id.dump());
      ids.push_back(id.get<int64_t>());
    }
    return json(tokenizer->decode(ids, options.skip_special)).dump();
  });
}

}  // namespace slowfast::cli
