"""Grading with math-verify in worker processes (its timeouts use SIGALRM, which needs a process's main thread)."""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor

_LETTER_PATTERNS = (
    re.compile(r"\\boxed\{\s*\(?([A-E])\)?\s*\}"),
    re.compile(r"answer is:?\s*\(?([A-E])\)"),
    re.compile(r"answer is:?\s*\(?([A-E])\b"),
)


def extract_choice(completion: str) -> str | None:
    """The last multiple-choice letter in ``\\boxed{C}``, "answer is (C)" or "answer is C" form."""
    for pattern in _LETTER_PATTERNS:
        found = pattern.findall(completion)
        if found:
            return found[-1]
    return None


def grade_math(completion: str, gold: str, timeout_s: int = 5) -> bool:
    """math-verify's verdict on the whole completion (boxed answers first) against the gold answer."""
    from math_verify import parse, verify

    gold_parsed = parse(gold if "\\boxed" in gold or "$" in gold else f"${gold}$", parsing_timeout=timeout_s)
    pred_parsed = parse(completion, parsing_timeout=timeout_s)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout_s))


def grade_one(args: tuple[str, str, str, int]) -> tuple[bool, str | None]:
    """(correct, error) of one completion; runs in a worker process."""
    kind, completion, gold, timeout_s = args
    try:
        if kind == "choice":
            return extract_choice(completion) == gold.strip().strip("()").upper(), None
        return grade_math(completion, gold, timeout_s), None
    except Exception as err:  # a grader crash counts as wrong and is reported beside the accuracy
        return False, f"{type(err).__name__}: {err}"


def grade_many(kind: str, completions: list[str], golds: list[str], workers: int, timeout_s: int):
    jobs = [(kind, c, g, timeout_s) for c, g in zip(completions, golds, strict=True)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(grade_one, jobs, chunksize=16))
