"""Grading with math-verify in worker processes (its timeouts use SIGALRM, which needs a process's main thread)."""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor

_LETTER_PATTERNS = (
    re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*\(?([A-E])\)?\s*\}?\s*\}"),
    re.compile(r"answer is:?\s*(?:option\s*)?\(?([A-E])\)", re.I),
    re.compile(r"answer is:?\s*(?:option\s*)?\(?([A-E])\b", re.I),
    re.compile(r"<answer>\s*\(?([A-E])\)?[.\s]*</answer>"),
    re.compile(r"^\s*\(?([A-E])\)?[.:]?\s*$", re.M),          # a line that is only the letter: "(C)", "C."
)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def extract_choice(completion: str, options: list[str] | None = None) -> str | None:
    """The multiple-choice letter of a completion: ``\\boxed{C}``, "answer is (C)" / "answer is C", ``<answer>C
    </answer>``, a line holding only "(C)"; else, given the option texts, the one option whose text the final answer
    (the <answer> block, or the last line) states. The last match of the first form found wins."""
    for pattern in _LETTER_PATTERNS:
        found = pattern.findall(completion)
        if found:
            return found[-1].upper()
    if options:
        tagged = _ANSWER_TAG.findall(completion)
        lines = [line for line in completion.strip().splitlines() if line.strip()]
        final = _normalise(tagged[-1] if tagged else lines[-1] if lines else "")
        texts = [_normalise(option) for option in options]
        hits = [i for i, text in enumerate(texts) if text and f" {text} " in f" {final} "]  # whole words only
        if len(hits) == 1:
            return "ABCDE"[hits[0]]
    return None


def grade_math(completion: str, gold: str, timeout_s: int = 5) -> bool:
    """math-verify's verdict on the whole completion (boxed answers first) against the gold answer."""
    from math_verify import parse, verify

    gold_parsed = parse(gold if "\\boxed" in gold or "$" in gold else f"${gold}$", parsing_timeout=timeout_s)
    pred_parsed = parse(completion, parsing_timeout=timeout_s)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout_s))


def grade_choice(completion: str, gold: str, options: list[str] | None = None) -> bool:
    """Whether the completion's multiple-choice letter (or the one option text it states) is the gold letter."""
    return extract_choice(completion, options) == gold.strip().strip("()").upper()


def grade_one(args: tuple) -> tuple[bool, str | None]:
    """(correct, error) of one completion; runs in a worker process. ``args`` = (kind, completion, gold, timeout_s
    [, options])."""
    kind, completion, gold, timeout_s, *rest = args
    try:
        if kind == "choice":
            return grade_choice(completion, gold, rest[0] if rest else None), None
        return grade_math(completion, gold, timeout_s), None
    except Exception as err:  # a grader crash counts as wrong and is reported beside the accuracy
        return False, f"{type(err).__name__}: {err}"


def grade_many(kind: str, completions: list[str], golds: list[str], workers: int, timeout_s: int,
               options: list[list[str] | None] | None = None):
    options = options or [None] * len(golds)
    jobs = [(kind, c, g, timeout_s, o) for c, g, o in zip(completions, golds, options, strict=True)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(grade_one, jobs, chunksize=16))


def score_answer(benchmark: str, completion: str, gold: str) -> bool:
    """Whether ``completion`` answers ``gold`` on ``benchmark`` (a math or logic benchmark, named as in the paper's
    tables: "GSM8K", "MATH500", "AQuA", "LogiQA2", ...): math-verify for math, letter extraction for multiple choice.
    Runs in the calling process (math-verify's timeouts need its main thread); the workflow grades in workers."""
    from ..benchmarks import BENCHMARKS

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {sorted(BENCHMARKS)}")
    if BENCHMARKS[benchmark].kind == "choice":
        return grade_choice(completion, gold)
    return grade_math(completion, gold)
