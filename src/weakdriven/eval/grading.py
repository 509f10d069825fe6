"""Grading with math-verify in worker processes (its timeouts use SIGALRM, which needs a process's main thread)."""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor

from ..benchmarks import BENCHMARKS

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


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (nested braces kept), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+")


def _value_text(text: str) -> str:
    """An answer or option text without LaTeX markup, dollar signs and spaces, lower case."""
    text = re.sub(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", text)
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "%").replace("\\,", "").replace("\\!", "")
    return re.sub(r"\s+", "", text).lower()


def _first_number(text: str) -> float | None:
    match = _NUMBER.search(text)
    if not match:
        return None
    number = match[0].replace(",", "").replace(" ", "")
    try:
        if "/" in number:
            num, den = number.split("/")
            return float(num) / float(den)
        return float(number)
    except (ValueError, ZeroDivisionError):
        return None


def match_option_value(value: str, options: list[str]) -> str | None:
    """The letter of the one option whose text is the boxed ``value`` (AQuA: ``\\boxed{23.65}`` for "(A) 23.65"):
    the same text once markup, dollar signs and spaces are dropped, else the same leading number (23.65 = "23.65
    miles", 1/2 = 0.5). None when no option or several options match."""
    text = _value_text(value)
    hits = [i for i, option in enumerate(options) if text and _value_text(option) == text]
    if not hits and (number := _first_number(text)) is not None:
        hits = [i for i, option in enumerate(options)
                if (other := _first_number(_value_text(option))) is not None
                and abs(other - number) <= 1e-9 * max(1.0, abs(number))]
    return "ABCDE"[hits[0]] if len(hits) == 1 else None


def extract_choice(completion: str, options: list[str] | None = None) -> str | None:
    """The multiple-choice letter of a completion: ``\\boxed{C}``, "answer is (C)" / "answer is C", ``<answer>C
    </answer>``, a line holding only "(C)" (the last match of the first form found wins); else, given the option
    texts, the option whose value the last ``\\boxed{}`` holds (the authors' AQuA grader), else the one option whose
    text the final answer (the <answer> block, or the last line) states."""
    for pattern in _LETTER_PATTERNS:
        found = pattern.findall(completion)
        if found:
            return found[-1].upper()
    if options and (boxed := last_boxed(completion)) is not None:
        letter = match_option_value(boxed, options)
        if letter:
            return letter
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


def score_answer(benchmark: str, completion: str, gold: str, options: list[str] | None = None) -> bool:
    """Whether ``completion`` answers ``gold`` on ``benchmark`` (a math or logic benchmark, named as in the paper's
    tables: "GSM8K", "MATH500", "AQuA", "LogiQA2", ...): math-verify for math, letter extraction for multiple choice
    (given the option texts, a boxed option value or the text of one option counts too). Runs in the calling process
    (math-verify's timeouts need its main thread); the workflow grades in workers."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {sorted(BENCHMARKS)}")
    if BENCHMARKS[benchmark].kind == "choice":
        return grade_choice(completion, gold, options)
    return grade_math(completion, gold)
