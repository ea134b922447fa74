#!/usr/bin/env python3
"""Held-out evaluation of the demo model through slowfast-cli and through the element.

Reads a set written by `slowfast-demo make-eval` (clip_NNNN.npy / .rgb + cases.jsonl), asks every
question once with `slowfast-cli run --frames` and once with a real pipeline
(filesrc ! rawvideoparse ! slowfastmllm mode=whole-stream), and prints the accuracy per question
kind for each, plus how often the two paths gave the same text. Exits non-zero when an accuracy is
below its --min-* threshold or when the paths disagree on more than --max-disagreements answers.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def normalize(text):
    text = text.strip().lower()
    return text[:-1] if text.endswith(".") else text


def ask_cli(cli, model, clip, prompt):
    out = subprocess.run(
        [cli, "run", "--model", model, "--frames", clip, "--prompt", prompt,
         "--temperature", "0", "--max-new-tokens", "32", "--dtype", "float32"],
        check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()


def ask_element(model, raw, case, prompt, workdir):
    text_path = os.path.join(workdir, "answer.txt")
    if os.path.exists(text_path):
        os.remove(text_path)
    pipeline = [
        "gst-launch-1.0", "-q",
        "filesrc", f"location={raw}", "!",
        "rawvideoparse", "format=rgb", f"width={case['width']}", f"height={case['height']}",
        "framerate=4/1", "!",
        "slowfastmllm", "name=m", f"model-location={model}", "mode=whole-stream",
        f"prompt={prompt}", "temperature=0", "max-new-tokens=32", "dtype=float32", "!",
        "queue", "!", "fakesink", "sync=false",
        "m.text_src", "!", "queue", "!", "filesink", f"location={text_path}",
    ]
    subprocess.run(pipeline, check=True, capture_output=True, timeout=120)
    with open(text_path, encoding="utf-8") as f:
        return f.read().strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("set_dir")
    parser.add_argument("--model", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--limit", type=int, default=0, help="only the first N clips")
    parser.add_argument("--no-element", action="store_true")
    parser.add_argument("--min-describe", type=float, default=0.0)
    parser.add_argument("--min-yes-no", type=float, default=0.0)
    parser.add_argument("--min-detail", type=float, default=0.0)
    parser.add_argument("--max-disagreements", type=int, default=-1)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    with open(os.path.join(args.set_dir, "cases.jsonl"), encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    if args.limit:
        cases = cases[:args.limit]
    paths = ["cli"] + ([] if args.no_element else ["element"])
    tally = {p: {} for p in paths}
    disagreements = 0
    with tempfile.TemporaryDirectory() as workdir:
        for case in cases:
            clip = os.path.join(args.set_dir, case["clip"] + ".npy")
            raw = os.path.join(args.set_dir, case["clip"] + ".rgb")
            for q in case["questions"]:
                answers = {"cli": ask_cli(args.cli, args.model, clip, q["prompt"])}
                if "element" in paths:
                    answers["element"] = ask_element(args.model, raw, case, q["prompt"], workdir)
                    if answers["element"] != answers["cli"]:
                        disagreements += 1
                        print(f"{case['clip']} {q['kind']}: cli {answers['cli']!r} != element "
                              f"{answers['element']!r}")
                for path, text in answers.items():
                    right, asked = tally[path].get(q["kind"], (0, 0))
                    ok = normalize(text) == normalize(q["answer"])
                    tally[path][q["kind"]] = (right + ok, asked + 1)
                    if not ok and args.verbose:
                        print(f"{path} {case['clip']} {q['kind']}: expected {q['answer']!r}, "
                              f"got {text!r}")
    failed = False
    minimum = {"describe": args.min_describe, "yes-no": args.min_yes_no, "detail": args.min_detail}
    for path in paths:
        parts = []
        for kind in ("describe", "yes-no", "detail"):
            right, asked = tally[path].get(kind, (0, 0))
            accuracy = right / asked if asked else 0.0
            parts.append(f"{kind} {right}/{asked} = {100 * accuracy:.1f}%")
            if asked and accuracy < minimum[kind]:
                failed = True
                print(f"FAIL: {path} {kind} accuracy {accuracy:.3f} < {minimum[kind]}")
        print(f"{path}: " + ", ".join(parts))
    if "element" in paths:
        print(f"element vs cli: {disagreements} different answers")
        if args.max_disagreements >= 0 and disagreements > args.max_disagreements:
            failed = True
            print(f"FAIL: {disagreements} disagreements > {args.max_disagreements}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
