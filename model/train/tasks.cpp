#include "train/tasks.h"

#include <algorithm>
#include <cctype>

#include "slowfast.h"

namespace slowfast::demo {

const char* const kDescribePrompt = kDefaultPrompt;

namespace {

const char* const kAbsentDescription = "Only a small dot is shown.";

const std::vector<std::string> kDescribePrompts = {kDescribePrompt, "Describe the video.",
                                                   "What happens in this video?", "What is shown?"};
const std::vector<std::string> kDetailPrompts = {"What colour is the small dot?",
                                                 "What color is the small dot?"};

std::string capitalized(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text;
}

std::string pattern_description(Pattern pattern) {
  switch (pattern) {
    case Pattern::Smpte:
      return "SMPTE colour bars.";
    case Pattern::Ball:
      return "A white ball moves on a black background.";
    case Pattern::Snow:
      return "Random noise.";
    case Pattern::Circular:
      return "Concentric circles.";
    case Pattern::Pinwheel:
      return "A pinwheel pattern.";
    case Pattern::ZonePlate:
      return "A zone plate pattern.";
  }
  return "";
}

std::string shape_description(const ShapeScene& s) {
  const std::string object =
      std::string(kColours[s.colour].name) + " " + kShapeNames[static_cast<int>(s.shape)];
  const std::string motion = std::string("moves ") + kDirectionNames[static_cast<int>(s.direction)];
  switch (s.event) {
    case Event::None:
      return "A " + object + " " + motion + ".";
    case Event::Appears:
      return "A " + object + " appears and " + motion + ".";
    case Event::Disappears:
      return "A " + object + " " + motion + " and disappears.";
    case Event::Passes:
      return "A " + object + " appears, " + motion + " and disappears.";
    case Event::Absent:
      return kAbsentDescription;
  }
  return "";
}

const std::string& pick(const std::vector<std::string>& options, std::mt19937_64& rng, bool vary) {
  if (!vary) return options.front();
  return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
}

}  // namespace

const char* kind_name(QuestionKind kind) {
  switch (kind) {
    case QuestionKind::Describe:
      return "describe";
    case QuestionKind::YesNo:
      return "yes-no";
    case QuestionKind::Detail:
      return "detail";
  }
  return "";
}

std::string describe(const Scene& scene) {
  return scene.is_pattern ? pattern_description(scene.pattern.pattern)
                          : shape_description(scene.shape);
}

std::string yes_no_prompt(const std::string& colour, const std::string& shape) {
  return "Is there a " + colour + " " + shape + "? Answer yes or no.";
}

std::pair<int, int> near_miss(const ShapeScene& shape, std::mt19937_64& rng) {
  int colour = shape.colour, kind = static_cast<int>(shape.shape);
  if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.5) {
    const int shift = std::uniform_int_distribution<int>(1, kColours.size() - 1)(rng);
    colour = (colour + shift) % static_cast<int>(kColours.size());
  } else {
    const int shift = std::uniform_int_distribution<int>(1, kShapeNames.size() - 1)(rng);
    kind = (kind + shift) % static_cast<int>(kShapeNames.size());
  }
  return {colour, kind};
}

std::vector<Question> questions_for(const Scene& scene, std::mt19937_64& rng, bool vary_prompts,
                                    double near_miss_share, double own_share) {
  std::vector<Question> questions;
  // Drawn either way, so that skipping it leaves the other questions' draws as they were.
  const std::string& describe_prompt = pick(kDescribePrompts, rng, vary_prompts);
  if (describable(scene)) {
    questions.push_back({QuestionKind::Describe, describe_prompt, describe(scene)});
  }

  // Yes/no: about the scene's own object (own_share), else about another one.
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int> colour_of(0, kColours.size() - 1);
  std::uniform_int_distribution<int> shape_of(0, kShapeNames.size() - 1);
  std::string colour, shape;
  bool yes = false;
  const double draw = unit(rng);
  if (scene.is_pattern) {
    if (draw < 0.5) {
      colour = "white", shape = "ball";
      yes = scene.pattern.pattern == Pattern::Ball;
    } else {
      colour = kColours[colour_of(rng)].name, shape = kShapeNames[shape_of(rng)];
    }
  } else if (draw < own_share) {
    colour = kColours[scene.shape.colour].name;
    shape = kShapeNames[static_cast<int>(scene.shape.shape)];
    yes = scene.shape_present_at_end();
  } else if (draw < 0.9 && near_miss_share > 0 && unit(rng) < near_miss_share) {
    const auto [other_colour, other_shape] = near_miss(scene.shape, rng);
    colour = kColours[other_colour].name, shape = kShapeNames[other_shape];
  } else if (draw < 0.9) {
    do {
      colour = kColours[colour_of(rng)].name, shape = kShapeNames[shape_of(rng)];
    } while (colour == kColours[scene.shape.colour].name &&
             shape == kShapeNames[static_cast<int>(scene.shape.shape)]);
  } else {
    colour = "white", shape = "ball";
  }
  std::string prompt = yes_no_prompt(colour, shape);
  if (vary_prompts && unit(rng) < 0.3) prompt = "Is there a " + colour + " " + shape + "?";
  questions.push_back({QuestionKind::YesNo, prompt, yes ? "Yes." : "No."});

  if (!scene.is_pattern) {
    questions.push_back({QuestionKind::Detail, pick(kDetailPrompts, rng, vary_prompts),
                         capitalized(kColours[scene.shape.dot_colour].name) + "."});
  }
  return questions;
}

std::string normalize_answer(const std::string& text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto first = out.find_first_not_of(" \t\n");
  if (first == std::string::npos) return "";
  out = out.substr(first, out.find_last_not_of(" \t\n") - first + 1);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool is_correct(const Question& question, const std::string& answer) {
  return normalize_answer(answer) == normalize_answer(question.answer);
}

std::vector<std::string> template_corpus(bool stream_events) {
  std::vector<std::string> corpus = kDescribePrompts;
  corpus.insert(corpus.end(), kDetailPrompts.begin(), kDetailPrompts.end());
  for (Pattern pattern : kPatterns) corpus.push_back(pattern_description(pattern));
  std::vector<std::pair<std::string, std::string>> objects = {{"white", "ball"}};
  for (const auto& colour : kColours) {
    corpus.push_back(capitalized(colour.name) + ".");
    for (const char* shape : kShapeNames) objects.emplace_back(colour.name, shape);
  }
  for (const auto& [colour, shape] : objects) {
    corpus.push_back(yes_no_prompt(colour, shape));
    corpus.push_back("Is there a " + colour + " " + shape + "?");
  }
  corpus.push_back("Yes.");
  corpus.push_back("No.");
  for (int colour = 0; colour < static_cast<int>(kColours.size()); ++colour) {
    for (int shape = 0; shape < 3; ++shape) {
      for (int direction = 0; direction < 4; ++direction) {
        for (int event = 0; event < (stream_events ? 4 : 3); ++event) {
          ShapeScene s;
          s.colour = colour;
          s.shape = static_cast<ShapeKind>(shape);
          s.direction = static_cast<Direction>(direction);
          s.event = static_cast<Event>(event);
          corpus.push_back(shape_description(s));
        }
      }
    }
  }
  if (stream_events) corpus.push_back(kAbsentDescription);
  return corpus;
}

}  // namespace slowfast::demo
