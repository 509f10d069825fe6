"""Benchmark registry: name (as the paper's tables print it) -> where its test set is read and how it is graded.

Paper benchmarks are read from ``benchmark_dir`` in the layout of the authors' bundled copies; the synthetic ones are
written by the embedded preset's data rule. Every loader checks the row count and names the file and row on bad data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LETTERS = "ABCDE"


def _multiple_choice(context: str, question: str, options: list, answer: int) -> dict:
    """A logic-reading row -> question text with lettered options, gold letter, and the option texts."""
    if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"options must be a list of 2-{len(LETTERS)} strings, got {options!r}")
    if not isinstance(answer, int) or not 0 <= answer < len(options):
        raise ValueError(f"answer index {answer!r} is not within the {len(options)} options")
    lines = [context.strip(), question.strip(), *(f"{LETTERS[i]}. {str(o).strip()}" for i, o in enumerate(options))]
    return {"question": "\n".join(line for line in lines if line), "gold": LETTERS[answer],
            "options": [str(o).strip() for o in options]}


def _logiqa2(row: dict) -> dict:    # csitfun/LogiQA2.0 test: text, question, options[4], answer (0-3)
    return _multiple_choice(row["text"], row["question"], row["options"], row["answer"])


def _reclor(row: dict) -> dict:     # ReClor val: context, question, answers[4], label (0-3)
    return _multiple_choice(row["context"], row["question"], row["answers"], row["label"])


@dataclass(frozen=True)
class Benchmark:
    name: str
    kind: str                    # "math" (math-verify) or "choice" (letter extraction)
    file: str | None             # file name inside benchmark_dir; None for synthetic sets made by the data rule
    question_fields: tuple[str, ...] = ()
    gold_field: str = "answer"
    rows: int | None = None      # expected row count (the authors' evaluator enforces these)
    record: Callable[[dict], dict] | None = None  # rows that are not question fields + gold: row -> record fields


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("AIME2025", "math", "aime2025.json", ("question",), rows=30),
        Benchmark("MATH500", "math", "math500.jsonl", ("problem",), rows=500),
        Benchmark("AMC23", "math", "amc23.json", ("instruction",), rows=40),
        Benchmark("AQuA", "choice", "aqua.json", ("instruction", "input"), rows=254),
        Benchmark("GSM8K", "math", "gsm8k.json", ("instruction", "input"), rows=1319),
        Benchmark("MAWPS", "math", "mawps.json", ("instruction", "input"), rows=238),
        Benchmark("SVAMP", "math", "svamp.json", ("instruction", "input"), rows=1000),
        Benchmark("LogiQA2", "choice", "logiqa2_test.jsonl", ("text", "question", "options"), "answer", rows=1572,
                  record=_logiqa2),
        Benchmark("ReClor", "choice", "reclor_val.json", ("context", "question", "answers"), "label", rows=500,
                  record=_reclor),
        Benchmark("synth-copy", "math", None),
        Benchmark("synth-next", "math", None),
        Benchmark("synth-add", "math", None),
    )
}


def _read_rows(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        return rows
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of rows")
    return data


def load_benchmark(name: str, benchmark_dir: str | Path) -> list[dict]:
    """Normalised rows ``{id, question, gold}`` of a paper benchmark read from ``benchmark_dir``."""
    bench = BENCHMARKS[name]
    if bench.file is None:
        raise ValueError(f"{name} is synthetic: it is written by the embedded preset's data rule")
    path = Path(benchmark_dir) / bench.file
    if not path.is_file():
        raise FileNotFoundError(f"{name}: test set {path} not found (set config key 'benchmark_dir')")
    rows = _read_rows(path)
    if bench.rows is not None and len(rows) != bench.rows:
        raise ValueError(f"{path}: {len(rows)} rows, expected {bench.rows} for {name}")
    out = []
    for i, row in enumerate(rows):
        missing = [f for f in (*bench.question_fields, bench.gold_field) if f not in row]
        if missing:
            raise ValueError(f"{path}: row {i} lacks field(s) {missing}")
        if bench.record is not None:
            try:
                out.append({"id": f"{name}-{i}", **bench.record(row)})
            except ValueError as err:
                raise ValueError(f"{path}: row {i}: {err}") from None
            continue
        question = "\n".join(str(row[f]).strip() for f in bench.question_fields if str(row[f]).strip())
        out.append({"id": f"{name}-{i}", "question": question, "gold": str(row[bench.gold_field]).strip()})
    return out
