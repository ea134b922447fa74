// What the demo model is asked about a clip and what it must answer: three kinds of question,
// each with fixed answer templates, so answers can be scored field by field.
#pragma once

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "train/scene.h"

namespace slowfast::demo {

enum class QuestionKind { Describe, YesNo, Detail };
const char* kind_name(QuestionKind kind);

struct Question {
  QuestionKind kind;
  std::string prompt;
  std::string answer;
};

// The element's default prompt, and the one evaluation uses for descriptions.
extern const char* const kDescribePrompt;

// "A red circle moves left." / "A white ball moves on a black background." ...
std::string describe(const Scene& scene);

// One question of each kind the scene supports (pattern scenes have no dot, so no Detail; no
// description of a shape in view for too few frames to show its motion, see describable).
// `vary_prompts` picks among paraphrases (training); otherwise the canonical wording is used.
// Of the yes/no questions about another object than a shape scene's own, `near_miss_share` ask
// about one that differs in one attribute only, its colour or its kind (training; with 0 the
// random draws, and so evaluation's questions, are the same as without the option).
// `own_share` of a shape scene's yes/no questions ask about its own object (evaluation: 0.6),
// and up to 0.9 about another one; the rest about the white ball.
std::vector<Question> questions_for(const Scene& scene, std::mt19937_64& rng, bool vary_prompts,
                                    double near_miss_share = 0, double own_share = 0.6);

// An object that differs from `shape`'s in one attribute only, its colour or its kind, as
// {colour index, ShapeKind index}: the negative most easily taken for the object itself.
std::pair<int, int> near_miss(const ShapeScene& shape, std::mt19937_64& rng);

// The yes/no prompt about an object, e.g. yes_no_prompt("red", "circle").
std::string yes_no_prompt(const std::string& colour, const std::string& shape);

// Lower-cased, trimmed, without a final period: how answers are compared.
std::string normalize_answer(const std::string& text);
bool is_correct(const Question& question, const std::string& answer);

// Every prompt and answer the templates can produce: the tokenizer's training text. The
// descriptions of Event::Passes and Event::Absent only with `stream_events` (a run with stream
// windows), so that runs without them keep the tokenizer they had.
std::vector<std::string> template_corpus(bool stream_events = false);

}  // namespace slowfast::demo
