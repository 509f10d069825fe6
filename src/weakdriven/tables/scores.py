"""What tables are built from, read and checked: score records, snapshot score files and entropy-gap records.

A table names every cell it needs (``weakdriven.tables.base.Needs``); each reader refuses a damaged file, a record
that is not the cell its path names, and a cell that is missing or given twice, naming the file or the cell.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pandas as pd

from ..checks import read_json
from ..methods import Run

SCORE_FIELDS = ("benchmark", "backbone", "seed", "run", "method", "lam", "n", "correct", "accuracy")


# eval/<backbone>/<domain>/seed<s>/<run>/<protocol>/<benchmark>.scores.json (paths.scores): the cell a record must
# belong to (the training domain follows from the benchmark: Experiment.run_domain)
SCORE_PATH = re.compile(r"eval/(?P<backbone>[^/]+)/(?:math|code|logic|mix)/seed(?P<seed>\d+)/(?P<run>[^/]+)/"
                        r"(?P<protocol>[^/]+)/(?P<benchmark>[^/]+)\.scores\.json$")
CELL = ("backbone", "seed", "run", "benchmark")


def load_scores(files: list[str]) -> pd.DataFrame:
    """Score files (one per run x benchmark) -> a frame with accuracy in percent. A truncated file, a record that
    lacks a field, or one whose backbone/seed/run/protocol/benchmark is not the cell its path names is an error
    naming the file."""
    records = []
    for path in files:
        record = read_json(path)
        missing = [k for k in SCORE_FIELDS if k not in record]
        if missing:
            raise ValueError(f"{path}: score record lacks {missing}")
        if not 0 <= record["correct"] <= record["n"] or record["n"] == 0:
            raise ValueError(f"{path}: correct={record['correct']} is not within n={record['n']}")
        if (cell := SCORE_PATH.search(str(path))) is not None:
            named = {**cell.groupdict(), "seed": int(cell["seed"])}
            wrong = {k: record.get(k) for k, v in named.items() if record.get(k) != v}
            if wrong:
                raise ValueError(f"{path}: the record is of {wrong}, not of the cell its path names "
                                 f"{ {k: named[k] for k in wrong} }: it was copied or written by another job")
        records.append(record)
    df = pd.DataFrame(records)
    df["lam"] = pd.to_numeric(df["lam"], errors="coerce")
    df["accuracy_pct"] = 100.0 * df["accuracy"]
    return df


def check_cells(scores: pd.DataFrame, expected: list[tuple], table: str) -> None:
    """Every expected (backbone, seed, run, benchmark) cell has exactly one score record: a missing seed or record
    would otherwise give an empty cell or an average over fewer seeds."""
    have = Counter(zip(*(scores[k] for k in CELL), strict=True))
    missing = [cell for cell in expected if not have[cell]]
    twice = sorted(cell for cell, n in have.items() if n > 1)
    if missing or twice:
        raise ValueError(f"{table}: {len(missing)} of {len(expected)} cells (backbone, seed, run, benchmark) have no "
                         f"score record, e.g. {missing[:5]}; {len(twice)} have more than one, e.g. {twice[:5]}; "
                         "the table is not built")


SNAPSHOT_FIELDS = ("backbone", "seed", "run", "benchmark", "checkpoint", "step", "n", "correct", "accuracy")


def load_snapshot_scores(files: list[str]) -> pd.DataFrame:
    """Snapshot score CSVs (one per run x benchmark, written by ``eval-snapshots``); a bad file is named."""
    frames = []
    for path in files:
        df = pd.read_csv(path, dtype={"checkpoint": str})
        missing = [c for c in SNAPSHOT_FIELDS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: snapshot scores lack columns {missing}")
        if (df.checkpoint == "final").sum() != 1 or not df.accuracy.between(0, 1).all():
            raise ValueError(f"{path}: needs exactly one 'final' row and accuracies in [0, 1]")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["method"] = df["run"].map(lambda r: Run.parse(r).method.name)
    if "outcomes" in df:  # per-problem right samples, as JSON text (files written without them: none)
        df["outcomes"] = [json.loads(o) if isinstance(o, str) and o else None for o in df["outcomes"]]
    return df


def load_gaps(files: list[str]) -> pd.DataFrame:
    """Entropy-gap records (Figure 5: one per backbone, seed and weak side)."""
    return pd.DataFrame([read_json(p) for p in files])


def check_gaps(gaps: pd.DataFrame | None, expected: list[tuple], table: str) -> None:
    """Every expected (backbone, seed, weak) entropy gap is there exactly once."""
    have = sorted(map(tuple, gaps[["backbone", "seed", "weak"]].values.tolist())) if gaps is not None else []
    wanted = sorted(tuple(c) for c in expected)
    if have != wanted:
        raise ValueError(f"{table}: entropy-gap records {have} are not the (backbone, seed, weak) cells "
                         f"{wanted}; the table is not built")
