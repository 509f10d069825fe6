"""Benchmark registry: name (as the paper's tables print it) -> where its test set is read and how it is graded.

Paper benchmarks are read from ``benchmark_dir`` in the layout of the authors' bundled copies; the synthetic ones are
written by the embedded preset's data rule. Every loader checks the row count and names the file and row on bad data.
"""

from __future__ import annotations

import hashlib
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
    sha256: str | None = None    # of the file the paper's numbers were computed on (None: no reference copy seen)
    origin: str = ""             # where that file comes from


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("AIME2025", "math", "aime2025.json", ("question",), rows=30,
                  sha256="de1b2907208f7e7302825a16af356e5f3782401e9c51150a46d83240e4f3db97",
                  origin="the authors' bundled copy, built from opencompass/AIME2025 @ a6ad95f"),
        Benchmark("MATH500", "math", "math500.jsonl", ("problem",), rows=500,
                  sha256="35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
                  origin="HuggingFaceH4/MATH-500 test split (its JSONL layout)"),
        Benchmark("AMC23", "math", "amc23.json", ("instruction",), rows=40,
                  sha256="09f77c83ef9d4f2674e0be82b865a0a27d30c1320d1e4372d3639360122a17c1",
                  origin="the authors' bundled copy of math-ai/amc23 test"),
        Benchmark("AQuA", "choice", "aqua.json", ("instruction", "input"), rows=254,
                  sha256="de677f5f0139340009eb01f17c0db781b4161912cd1f4efa77292f2fcf3478ee",
                  origin="the authors' bundled copy"),
        Benchmark("GSM8K", "math", "gsm8k.json", ("instruction", "input"), rows=1319,
                  sha256="2cc616a1e0b23ea1df29370476365cde71c4e0aa823fb06cc194c5a8a9381abe",
                  origin="the authors' bundled copy"),
        Benchmark("MAWPS", "math", "mawps.json", ("instruction", "input"), rows=238,
                  sha256="c1a708979cbf2b3df9ac4020baacf3e8e73fcf089e1de7dd1b305b810bfaa15f",
                  origin="the authors' bundled copy"),
        Benchmark("SVAMP", "math", "svamp.json", ("instruction", "input"), rows=1000,
                  sha256="ffed015784f738f317c5603177861d044c4fc94e09211d78b25e96d46c656e2c",
                  origin="the authors' bundled copy"),
        Benchmark("LogiQA2", "choice", "logiqa2_test.jsonl", ("text", "question", "options"), "answer", rows=1572,
                  record=_logiqa2, sha256="71940b37ae0184b677c253a148d57ad4e75d6113447b1563c2ca82483e4e4f8d",
                  origin="csitfun/LogiQA2.0 test split"),
        Benchmark("ReClor", "choice", "reclor_val.json", ("context", "question", "answers"), "label", rows=500,
                  record=_reclor, origin="ReClor release, val.json (no reference copy seen: not checksummed)"),
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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_benchmark(name: str, benchmark_dir: str | Path, verify_sha256: bool = True) -> list[dict]:
    """Normalised rows ``{id, question, gold}`` (+ ``options`` for multiple choice) of a paper benchmark read from
    ``benchmark_dir``. The file must be the one the paper's numbers were computed on (sha256) unless
    ``verify_sha256`` is off (config key 'benchmark_checksums: false')."""
    bench = BENCHMARKS[name]
    if bench.file is None:
        raise ValueError(f"{name} is synthetic: it is written by the embedded preset's data rule")
    path = Path(benchmark_dir) / bench.file
    if not path.is_file():
        raise FileNotFoundError(f"{name}: test set {path} not found (set config key 'benchmark_dir')")
    if verify_sha256 and bench.sha256 and (digest := file_sha256(path)) != bench.sha256:
        raise ValueError(f"{path}: sha256 {digest[:16]}... is not the {name} test set the paper used "
                         f"({bench.sha256[:16]}..., {bench.origin}); set config key 'benchmark_checksums: false' "
                         "to evaluate on it anyway")
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
