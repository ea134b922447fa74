#include "util/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "slowfast.h"

namespace slowfast {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    throw Error("cannot open " + what + " " + path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open " + what + " " + path + ": " + std::strerror(errno));
  // One allocation of the file's size, read in place: a tokenizer.json is several MB, and a
  // growing stream buffer plus its copy would touch three times that.
  const std::streamoff size = in.tellg();
  std::string text(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  in.seekg(0);
  if (size > 0 && !in.read(text.data(), size)) {
    throw Error("cannot read " + what + " " + path + ": " + std::strerror(errno));
  }
  return text;
}

nlohmann::json parse_json(const std::string& text, const std::string& what,
                          const std::string& origin,
                          const nlohmann::json::parser_callback_t& callback) {
  try {
    return nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " " + origin + " is not valid JSON (malformed JSON): " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  return parse_json(read_text_file(path, what), what, path);
}

}  // namespace slowfast
