"""The paper's training data: the math subset of a-m-team/AM-DeepSeek-R1-Distilled-1.4M (App. E.2, Table 12).

Rows are filtered as the authors' code does, in this order: at least two messages with non-empty first user and
assistant turns; the assistant text matches the think/answer/boxed format; the first message's info holds a reference
answer; math-verify accepts the assistant text against that reference (111,657 of 1,400,000 rows kept).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>.*?\\boxed\{.*?\}.*?</answer>$", re.DOTALL)


def _reference(row: dict) -> str | None:
    info = row["messages"][0].get("info") or {}
    ref = info.get("reference_answer")
    return str(ref).strip() if ref not in (None, "") else None


def filter_math_rows(rows: Iterable[dict], verify=None) -> tuple[list[dict], Counter]:
    """Training records ``{id, question, completion, answer}`` and the count of rows dropped per reason."""
    from ..eval.grading import grade_math

    verify = verify or grade_math
    kept, counts = [], Counter()
    for i, row in enumerate(rows):
        messages = row.get("messages") or []
        if (len(messages) < 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant"
                or not str(messages[0].get("content", "")).strip() or not str(messages[1].get("content", "")).strip()):
            counts["bad messages"] += 1
            continue
        completion = messages[1]["content"].strip()
        if not FORMAT.match(completion):
            counts["bad format"] += 1
            continue
        reference = _reference(row)
        if reference is None:
            counts["no reference"] += 1
            continue
        try:
            correct = verify(completion, reference)
        except Exception:
            counts["unparsable reference"] += 1
            continue
        if not correct:
            counts["incorrect"] += 1
            continue
        counts["kept"] += 1
        kept.append({"id": f"am-{i}", "question": messages[0]["content"].strip(), "completion": completion,
                     "answer": reference})
    return kept, counts


def load_am_rows(source: str, hub_id: str | None = None, revision: str | None = None, path: str | None = None):
    """Raw rows from the hub (pinned revision) or from a local JSON/JSONL file in the same format."""
    from datasets import load_dataset

    if source == "hub":
        return load_dataset(hub_id, revision=revision, split="train")
    if source == "local":
        return load_dataset("json", data_files=path, split="train")
    raise ValueError(f"train_data.source {source!r} is not a source of AM rows (hub or local)")
