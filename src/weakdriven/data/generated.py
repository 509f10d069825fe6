"""Model-written training data (SPIN's answers): JSON Lines rows checked one by one when read, so a damaged or
foreign file fails naming its line before any training starts."""

from __future__ import annotations

from pathlib import Path

from .chat import read_jsonl

FINISH_REASONS = ("stop", "length")


def read_generated(path: str | Path) -> list[dict]:
    """Rows ``{"id", "text", ...}`` of a generated file; a row without a string id and text, or with an unknown
    finish reason, is an error naming the file and line; an empty file is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    rows = []
    with open(path) as fh:
        lines = fh.readlines()
    for lineno, row in enumerate(read_jsonl(path, ("id", "text")), start=1):
        reason = row.get("finish_reason", "stop")
        if reason not in FINISH_REASONS:
            line = _line_of(lines, lineno)
            raise ValueError(f"{path}:{line}: finish_reason {reason!r} is not one of {FINISH_REASONS}")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no generated rows")
    return rows


def _line_of(lines: list[str], row_number: int) -> int:
    """The file line of the ``row_number``-th non-empty line (read_jsonl skips blank lines)."""
    seen = 0
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            seen += 1
            if seen == row_number:
                return lineno
    return row_number


def read_rollouts(path: str | Path) -> list[dict]:
    """Graded rollouts ``{"id", "sample_index", "text", "correct", ...}`` (DPO's): a generated file whose rows also
    carry an integer sample index and a boolean verdict, each checked and named by file and line when wrong."""
    rows = read_generated(path)
    with open(path) as fh:
        lines = fh.readlines()
    for number, row in enumerate(rows, start=1):
        index, correct = row.get("sample_index"), row.get("correct")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"{path}:{_line_of(lines, number)}: sample_index must be an integer >= 0, got {index!r}")
        if not isinstance(correct, bool):
            raise ValueError(f"{path}:{_line_of(lines, number)}: correct must be true or false, got {correct!r}")
    return rows


def rollouts_by_prompt(examples: list, rollouts: list[dict], source: str) -> dict[str, list[dict]]:
    """Each prompt's rollouts in sampling order (by sample index); a rollout of an unknown prompt, two rollouts with
    one index, or a prompt without rollouts is an error naming ``source``."""
    by_prompt: dict[str, dict[int, dict]] = {}
    known = {ex.id for ex in examples}
    for row in rollouts:
        if row["id"] not in known:
            raise ValueError(f"{source}: rollout of id {row['id']!r}, which is not among the prompts")
        samples = by_prompt.setdefault(row["id"], {})
        if row["sample_index"] in samples:
            raise ValueError(f"{source}: two rollouts {row['sample_index']} of id {row['id']!r}")
        samples[row["sample_index"]] = row
    missing = [ex.id for ex in examples if ex.id not in by_prompt]
    if missing:
        raise ValueError(f"{source}: no rollouts of {len(missing)} prompt(s), e.g. {missing[:3]}")
    return {ex.id: [by_prompt[ex.id][i] for i in sorted(by_prompt[ex.id])] for ex in examples}
