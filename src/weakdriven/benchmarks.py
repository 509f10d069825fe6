"""Benchmark registry: name (as the paper's tables print it) -> where its test set is read and how it is graded.

Paper benchmarks are read from ``benchmark_dir`` (a local file in the layout of the hub release named by ``hub`` and
``revision``); the synthetic ones are written by the embedded preset's data rule. Every loader checks the row count
and names the file and row on bad data. Math is graded by math-verify, multiple choice by letter extraction
(eval/grading.py), code by running the benchmark's own judge in the sandbox (eval/code.py).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .checks import file_sha256
from .data.chat import write_jsonl
from .eval.code import evalplus_task, livecodebench_tests, pack_task

LETTERS = "ABCDE"


def multiple_choice(context: str, question: str, options: list, answer: int) -> dict:
    """A logic-reading row -> question text with lettered options, gold letter, and the option texts."""
    if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"options must be a list of 2-{len(LETTERS)} strings, got {options!r}")
    if not isinstance(answer, int) or not 0 <= answer < len(options):
        raise ValueError(f"answer index {answer!r} is not within the {len(options)} options")
    lines = [context.strip(), question.strip(), *(f"{LETTERS[i]}. {str(o).strip()}" for i, o in enumerate(options))]
    return {"question": "\n".join(line for line in lines if line), "gold": LETTERS[answer],
            "options": [str(o).strip() for o in options]}


_AQUA_CHOICES = re.compile(r"\(([A-E])\)\s*(.*?)\s*(?=\([A-E]\)|$)", re.S)


def _aqua(row: dict) -> dict:  # the authors' AQuA: the options sit in the instruction ("Answer Choices: (A) 23.65 ...")
    instruction, extra = str(row["instruction"]).strip(), str(row["input"]).strip()
    _, marker, choices = instruction.rpartition("Answer Choices:")
    found = _AQUA_CHOICES.findall(choices) if marker else []
    if [letter for letter, _ in found] != list(LETTERS[:len(found)]) or len(found) < 2:
        raise ValueError("the instruction has no 'Answer Choices: (A) ... (B) ...' list")
    return {"question": "\n".join(t for t in (instruction, extra) if t), "gold": str(row["answer"]).strip(),
            "options": [text for _, text in found]}


def _logiqa2(row: dict) -> dict:    # csitfun/LogiQA2.0 test: text, question, options[4], answer (0-3)
    return multiple_choice(row["text"], row["question"], row["options"], row["answer"])


def _reclor(row: dict) -> dict:     # ReClor val: context, question, answers[4], label (0-3)
    return multiple_choice(row["context"], row["question"], row["answers"], row["label"])


# Code prompts: the benchmarks' own instruction styles (evalplus's instruct prefix, BigCodeBench-Instruct's prompt,
# LiveCodeBench's code-generation format lines).
EVALPLUS_INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a " \
                       "markdown code block:"
LCB_STARTER = "You will use the following starter code to write the solution to the problem and enclose your code " \
              "within delimiters."
LCB_STDIN = "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on " \
            "the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program " \
            "runs, it reads the inputs, runs the algorithm and writes output to STDOUT."


def _evalplus(dataset: str) -> Callable[[dict], dict]:
    def record(row: dict) -> dict:
        if dataset == "mbpp":
            from evalplus.data.mbpp import mbpp_deserialize_inputs

            row = dict(row, base_input=mbpp_deserialize_inputs(row["task_id"], row["base_input"]),
                       plus_input=mbpp_deserialize_inputs(row["task_id"], row["plus_input"]))
        try:
            task = evalplus_task(row, dataset)
        except Exception as err:  # the canonical solution must run on every input
            raise ValueError(f"canonical solution of {row['task_id']} fails: {type(err).__name__}: {err}") from None
        return {"question": f"{EVALPLUS_INSTRUCTION}\n```\n{row['prompt'].strip()}\n```", "gold": row["task_id"],
                "task": pack_task(task)}
    return record


def _bigcodebench(row: dict) -> dict:  # BigCodeBench-Instruct (v0.1.4 release rows)
    task = {"judge": "bigcodebench", "task_id": row["task_id"], "entry_point": row["entry_point"], "test": row["test"]}
    return {"question": row["instruct_prompt"].strip(), "gold": row["task_id"], "task": pack_task(task)}


def _livecodebench(row: dict) -> dict:  # livecodebench/code_generation_lite rows
    metadata = json.loads(row.get("metadata") or "{}")
    starter = (row.get("starter_code") or "").strip()
    if starter and not metadata.get("func_name"):
        raise ValueError("functional (starter code) problem without metadata.func_name")
    fmt = f"{LCB_STARTER}\n```python\n{starter}\n```" if starter else f"{LCB_STDIN}\n```python\n# YOUR CODE HERE\n```"
    task = {"judge": "livecodebench", "task_id": row["question_id"], "func_name": metadata.get("func_name"),
            "tests": livecodebench_tests(row)}
    return {"question": f"{row['question_content'].strip()}\n\n{fmt}", "gold": row["question_id"],
            "task": pack_task(task)}


@dataclass(frozen=True)
class Source:
    """Where a cluster fetches a test set (`weakdriven fetch-benchmarks`): ``hf`` = files of a Hugging Face dataset
    repository at ``revision`` (several files are concatenated, as LiveCodeBench's releases are cumulative), ``url`` =
    a versioned release file (gunzipped when the local name is not .gz), ``manual`` = no public direct download
    (``where`` says where it comes from). The sha256 (where known) is the content pin."""

    kind: str
    where: str
    revision: str = ""
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Benchmark:
    name: str
    kind: str                    # "math" (math-verify), "choice" (letter extraction) or "code" (a judge, eval/code.py)
    file: str | None             # file name inside benchmark_dir; None for synthetic sets made by the data rule
    question_fields: tuple[str, ...] = ()
    gold_field: str = "answer"
    rows: int | None = None      # expected row count (the authors' evaluator enforces these)
    record: Callable[[dict], dict] | None = None  # rows that are not question fields + gold: row -> record fields
    sha256: str | None = None    # of the file the paper's numbers were computed on (None: no reference copy seen)
    origin: str = ""             # where that file comes from
    source: Source | None = None  # where a cluster fetches it, pinned (None: synthetic)
    domain: str = "math"         # "math", "code" or "logic": picks the per-family prompt (App. E.4)


# The authors' bundled evaluation sets: copy them from their repository; the sha256 pins the exact files.
AUTHORS = Source("manual", "the evaluation data bundled in github.com/chenzehao82/Weak-Driven-Learning", "25ac32f")
EVALPLUS_RELEASES = "https://github.com/evalplus/{}_release/releases/download/{}/{}"
EVALPLUS_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol")

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("AIME2025", "math", "aime2025.json", ("question",), rows=30,
                  sha256="de1b2907208f7e7302825a16af356e5f3782401e9c51150a46d83240e4f3db97",
                  origin="the authors' bundled copy, built from opencompass/AIME2025 @ a6ad95f",
                  source=AUTHORS),
        Benchmark("MATH500", "math", "math500.jsonl", ("problem",), rows=500,
                  sha256="35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
                  origin="HuggingFaceH4/MATH-500 test split (its JSONL layout)",
                  source=Source("hf", "HuggingFaceH4/MATH-500", "main", ("test.jsonl",))),
        Benchmark("AMC23", "math", "amc23.json", ("instruction",), rows=40,
                  sha256="09f77c83ef9d4f2674e0be82b865a0a27d30c1320d1e4372d3639360122a17c1",
                  origin="the authors' bundled copy of math-ai/amc23 test", source=AUTHORS),
        Benchmark("AQuA", "choice", "aqua.json", ("instruction", "input"), rows=254, record=_aqua,
                  sha256="de677f5f0139340009eb01f17c0db781b4161912cd1f4efa77292f2fcf3478ee",
                  origin="the authors' bundled copy", source=AUTHORS),
        Benchmark("GSM8K", "math", "gsm8k.json", ("instruction", "input"), rows=1319,
                  sha256="2cc616a1e0b23ea1df29370476365cde71c4e0aa823fb06cc194c5a8a9381abe",
                  origin="the authors' bundled copy", source=AUTHORS),
        Benchmark("MAWPS", "math", "mawps.json", ("instruction", "input"), rows=238,
                  sha256="c1a708979cbf2b3df9ac4020baacf3e8e73fcf089e1de7dd1b305b810bfaa15f",
                  origin="the authors' bundled copy", source=AUTHORS),
        Benchmark("SVAMP", "math", "svamp.json", ("instruction", "input"), rows=1000,
                  sha256="ffed015784f738f317c5603177861d044c4fc94e09211d78b25e96d46c656e2c",
                  origin="the authors' bundled copy", source=AUTHORS),
        Benchmark("HumanEval+", "code", "HumanEvalPlus-v0.1.10.jsonl.gz",
                  EVALPLUS_FIELDS,
                  "task_id", rows=164, record=_evalplus("humaneval"), domain="code",
                  origin="EvalPlus HumanEval+ v0.1.10 (the release evalplus 0.3.1 pins)",
                  source=Source("url", EVALPLUS_RELEASES.format("humanevalplus", "v0.1.10",
                                                                "HumanEvalPlus-v0.1.10.jsonl.gz"), "v0.1.10")),
        Benchmark("MBPP+", "code", "MbppPlus-v0.2.0.jsonl.gz",
                  EVALPLUS_FIELDS,
                  "task_id", rows=378, record=_evalplus("mbpp"), domain="code",
                  origin="EvalPlus MBPP+ v0.2.0 (the release evalplus 0.3.1 pins)",
                  source=Source("url", EVALPLUS_RELEASES.format("mbppplus", "v0.2.0", "MbppPlus-v0.2.0.jsonl.gz"),
                                "v0.2.0")),
        Benchmark("BigCodeBench", "code", "BigCodeBench-v0.1.4.jsonl",
                  ("task_id", "instruct_prompt", "entry_point", "test"), "task_id", rows=1140, record=_bigcodebench,
                  domain="code", origin="bigcode/bigcodebench split v0.1.4 (full, the version bigcodebench 0.2.5 pins)",
                  source=Source("url", "https://github.com/bigcode-project/bigcodebench-annotation/releases/download/"
                                       "v0.1.4/BigCodeBench.jsonl.gz", "v0.1.4")),
        Benchmark("LiveCodeBench", "code", "livecodebench_release_v6.jsonl",
                  ("question_id", "question_content", "public_test_cases", "private_test_cases"), "question_id",
                  rows=1055, record=_livecodebench, domain="code",
                  origin="livecodebench/code_generation_lite release_v6 (1,055 problems, 2023-05 to 2025-04; the "
                         "paper names no release)",
                  source=Source("hf", "livecodebench/code_generation_lite", "main",
                                tuple(f"test{i if i > 1 else ''}.jsonl" for i in range(1, 7)))),  # release_v6
        Benchmark("LogiQA2", "choice", "logiqa2_test.jsonl", ("text", "question", "options"), "answer", rows=1572,
                  record=_logiqa2, sha256="71940b37ae0184b677c253a148d57ad4e75d6113447b1563c2ca82483e4e4f8d",
                  origin="csitfun/LogiQA2.0 test split", domain="logic",
                  source=Source("url", "https://raw.githubusercontent.com/csitfun/LogiQA2.0/main/logiqa/DATA/LOGIQA/"
                                       "test.txt", "main")),
        Benchmark("ReClor", "choice", "reclor_val.json", ("context", "question", "answers"), "label", rows=500,
                  record=_reclor, origin="ReClor release, val.json (no reference copy seen: not checksummed)",
                  domain="logic", source=Source("manual", "the ReClor release zip (https://whyu.me/reclor/, a "
                                                "form), val.json", "v1")),
        Benchmark("synth-copy", "math", None),
        Benchmark("synth-next", "math", None),
        Benchmark("synth-add", "math", None),
        Benchmark("synth-logic", "choice", None, domain="logic"),  # the embedded logic domain's held-out items
        Benchmark("synth-code", "code", None, domain="code"),      # the embedded code domain's stdio problems
    )
}


def _read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":  # the hub's parquet copies (e.g. LiveCodeBench's)
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno} column {err.colno})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of rows")
    return data


def load_benchmark(name: str, benchmark_dir: str | Path, verify_sha256: bool = True) -> list[dict]:
    """Normalised rows ``{id, question, gold}`` (+ ``options`` for multiple choice, + ``task``, the judge's payload,
    for code) of a paper benchmark read from ``benchmark_dir`` (its release file name inside it) or from a file
    given directly. The file must be the one the paper's numbers were computed on (sha256) unless ``verify_sha256``
    is off (config key 'benchmark_checksums: false')."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    bench = BENCHMARKS[name]
    if bench.file is None:
        raise ValueError(f"{name} is synthetic: it is written by the embedded preset's data rule")
    path = Path(benchmark_dir) if Path(benchmark_dir).is_file() else Path(benchmark_dir) / bench.file
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
        gold = row[bench.gold_field]
        if gold is None or (isinstance(gold, str) and not gold.strip()):  # str(None) would be the gold "None"
            raise ValueError(f"{path}: row {i}: field {bench.gold_field!r} is {gold!r}, not an answer")
        if bench.record is not None:
            try:
                out.append({"id": f"{name}-{i}", **bench.record(row)})
            except (ValueError, KeyError, TypeError) as err:
                reason = f"missing field {err}" if isinstance(err, KeyError) else str(err)
                raise ValueError(f"{path}: row {i}: {reason}") from None
            continue
        question = "\n".join(str(row[f]).strip() for f in bench.question_fields if str(row[f]).strip())
        if not question:
            raise ValueError(f"{path}: row {i}: an empty question (fields {list(bench.question_fields)})")
        out.append({"id": f"{name}-{i}", "question": question, "gold": str(gold).strip()})
    return out


def fetch_benchmark(name: str, benchmark_dir: str | Path, source: Source | None = None) -> Path:
    """Download ``name``'s test set from its pinned source into ``benchmark_dir`` under its release file name, then
    check it (sha256 where known, row count, every row) with the loader; a file that fails is removed, never left
    half-checked. An existing file is kept (and checked). ``source`` overrides the registry's (tests)."""
    import shutil
    import tempfile
    import urllib.request

    bench = BENCHMARKS[name]
    source = source or bench.source
    dest = Path(benchmark_dir) / bench.file
    if dest.is_file():
        load_benchmark(name, benchmark_dir)
        return dest
    if source is None or source.kind == "manual":
        raise ValueError(f"{name}: no direct download; put {bench.file} into {benchmark_dir} from "
                         f"{source.where if source else 'nowhere'} (revision {source.revision if source else '-'})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{bench.file}.") as tmp:
        part = Path(tmp) / bench.file
        if source.kind == "hf":
            from huggingface_hub import hf_hub_download

            with open(part, "wb") as out:
                for file in source.files:
                    got = hf_hub_download(source.where, file, repo_type="dataset", revision=source.revision)
                    data = Path(got).read_bytes()
                    out.write(data if data.endswith(b"\n") or not data else data + b"\n")
        elif source.kind == "url":
            raw = Path(tmp) / "download"
            with urllib.request.urlopen(source.where, timeout=120) as response, open(raw, "wb") as out:
                shutil.copyfileobj(response, out)
            data = raw.read_bytes()
            if source.where.endswith(".gz") and not bench.file.endswith(".gz"):
                data = gzip.decompress(data)
            part.write_bytes(data)
        else:
            raise ValueError(f"{name}: unknown source kind {source.kind!r}")
        load_benchmark(name, part)  # sha256, rows and every row, before it takes the release name
        part.replace(dest)
    return dest


def fetch_benchmarks(names: list[str] | None, benchmark_dir: str) -> None:
    """Download the paper's test sets (default: all) from their pinned sources into ``benchmark_dir`` (where there is
    internet, e.g. a login node); sets without a direct download are named with where to get them."""
    names = names or [b for b, spec in BENCHMARKS.items() if spec.file is not None]
    missing = []
    for name in names:
        if name not in BENCHMARKS or BENCHMARKS[name].file is None:
            raise ValueError(f"{name!r} is not a paper benchmark; known: {sorted(BENCHMARKS)}")
        try:
            print(f"{name}: {fetch_benchmark(name, benchmark_dir)} (checked)")
        except (ValueError, OSError) as err:
            missing.append(name)
            print(f"{name}: NOT FETCHED: {err}")
    if missing:
        raise SystemExit(f"{len(missing)} of {len(names)} test sets are not in {benchmark_dir}: {missing}")


def prepare_benchmark(name: str, benchmark_dir: str, out: str, verify_sha256: bool = True) -> None:
    """One test set, normalised (id, question, gold) from the file the paper used."""

    write_jsonl(out, load_benchmark(name, benchmark_dir, verify_sha256=verify_sha256))
