"""Chat formatting and tokenisation shared by SFT, WD-JT, WD-DS entropies and generation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    completion: str
    answer: str                  # the gold: a math answer, an option letter (logic), "" (code: see tests)
    tests: dict | None = None    # a code row's tests (data/am_code.py: parse_tests), which grade a model's program
    domain: str | None = None    # a mixture row's training set (math, code, logic): it says how to grade an answer


def parse_json_lines(lines: Iterable[str], path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) of each non-empty line; a line that is not a JSON object is an error naming the file and
    the line."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: a row must be a JSON object")
        yield lineno, row


def read_jsonl(path: str | Path, required: tuple[str, ...]) -> Iterator[dict]:
    """Yield rows of a JSONL file, failing with the file and line number on a bad row."""
    with open(path) as fh:
        for lineno, row in parse_json_lines(fh, path):
            missing = [k for k in required if not isinstance(row.get(k), str)]
            if missing:
                raise ValueError(f"{path}:{lineno}: missing or non-string field(s) {missing}")
            yield row


def write_jsonl(path: str | Path, rows) -> None:
    """Rows as JSON Lines, written to a temporary file beside ``path`` and renamed into place once complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    try:
        with open(part, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def _example(row: dict, path: str | Path, number: int) -> Example:
    tests, domain = row.get("tests"), row.get("domain")
    if tests is not None and not (isinstance(tests, dict) and isinstance(tests.get("cases"), list)):
        raise ValueError(f"{path}: row {number} (id {row['id']}): 'tests' must be an object with a list 'cases'")
    if domain is not None and domain not in ("math", "code", "logic"):
        raise ValueError(f"{path}: row {number} (id {row['id']}): 'domain' {domain!r} is not math, code or logic")
    empty = [k for k in ("question", "completion") if not row[k].strip()]
    if empty:  # an empty completion carries no loss token: the row would train on nothing
        raise ValueError(f"{path}: row {number} (id {row['id']}): empty {' and '.join(empty)}")
    return Example(row["id"], row["question"], row["completion"], row["answer"], tests, domain)


def load_examples(path: str | Path) -> list[Example]:
    rows = [_example(r, path, i) for i, r in enumerate(read_jsonl(path, ("id", "question", "completion", "answer")),
                                                         start=1)]
    if not rows:
        raise ValueError(f"{path}: no training rows")
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids")
    return rows


def prompt_messages(question: str, system_prompt: str | None) -> list[dict]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": question}]


def prompt_text(tokenizer, question: str, system_prompt: str | None) -> str:
    return tokenizer.apply_chat_template(
        prompt_messages(question, system_prompt), tokenize=False, add_generation_prompt=True
    )


def encode_example(tokenizer, example: Example, system_prompt: str | None, max_length: int, mask: str) -> dict:
    """Token ids and labels of one chat record.

    ``mask="completion"`` supervises the assistant turn only (phase-1 SFT); ``"all_tokens"`` supervises every token
    including the prompt and template (what the authors' joint stage does). Labels are aligned with input_ids (the
    causal shift happens in the loss). Sequences longer than ``max_length`` are truncated on the right.
    """
    messages = prompt_messages(example.question, system_prompt)
    full = tokenizer.apply_chat_template(
        messages + [{"role": "assistant", "content": example.completion}], tokenize=False
    )
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not full.startswith(prompt):
        raise ValueError(f"example {example.id}: the chat template does not render the prompt as a prefix")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + completion_ids)[:max_length]
    if mask == "completion":
        labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
    elif mask == "all_tokens":
        labels = prompt_ids + completion_ids
    else:
        raise ValueError(f"unknown loss mask {mask!r}; expected 'completion' or 'all_tokens'")
    labels = labels[:max_length]
    completion_mask = ([0] * len(prompt_ids) + [1] * len(completion_ids))[:max_length]
    return {"input_ids": input_ids, "labels": labels, "completion_mask": completion_mask}
