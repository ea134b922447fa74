#include "util/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "slowfast.h"

namespace slowfast {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    throw Error("cannot open " + what + " " + path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + what + " " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + what + " " + path + ": " + std::strerror(errno));
  return text.str();
}

nlohmann::json parse_json(const std::string& text, const std::string& what,
                          const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " " + origin + " is not valid JSON (malformed JSON): " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  return parse_json(read_text_file(path, what), what, path);
}

}  // namespace slowfast
