// Reading the JSON files a checkpoint is made of (config.json, tokenizer.json, the safetensors
// index), with errors that name the file and what it is.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace slowfast {

// The whole of a regular file. `what` names it in errors ("config", "tokenizer"). FIFOs, devices
// and directories are refused before they are opened: reading one could block forever.
std::string read_text_file(const std::string& path, const std::string& what);

// JSON text from `origin` (a path); throws slowfast::Error naming it when the text is malformed.
// `callback`, when given, is nlohmann's parser callback: it sees every value and may keep it out
// of the tree.
nlohmann::json parse_json(const std::string& text, const std::string& what,
                          const std::string& origin,
                          const nlohmann::json::parser_callback_t& callback = nullptr);

// read_text_file + parse_json.
nlohmann::json read_json_file(const std::string& path, const std::string& what);

}  // namespace slowfast
