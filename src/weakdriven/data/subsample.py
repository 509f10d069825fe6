"""The training-row subsample of the baselines with a generation phase (App. E.5: SPIN and SSB use 20K of the math
pool "due to the high cost of their rollout phases").

One subsample per (size, seed): ``rows`` ids drawn without replacement by numpy's ``default_rng(seed)`` from the
training set in file order, written once and read by every method of that seed that asks for the same size, so
SPIN's and SSB's prompts are the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checks import read_json
from .chat import Example, load_examples


def draw_subsample(ids: list[str], rows: int, seed: int) -> list[str]:
    """``rows`` of ``ids`` without replacement, in training-set order; all of them when ``rows`` >= their number."""
    if rows < 1:
        raise ValueError(f"a subsample needs at least one row, got {rows}")
    if rows >= len(ids):
        return list(ids)
    picked = np.sort(np.random.default_rng(seed).choice(len(ids), size=rows, replace=False))
    return [ids[i] for i in picked]


def subsample_stage(data: str, rows: int, seed: int, out: str) -> None:
    """Write the subsample of the training set ``data`` (its ids, the size asked for and the seed) to ``out``."""
    ids = [ex.id for ex in load_examples(data)]
    picked = draw_subsample(ids, rows, seed)
    record = {"rows_requested": rows, "seed": seed, "rows": len(picked), "pool": len(ids), "ids": picked}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    part = Path(out).with_name(f".{Path(out).name}.part")
    part.write_text(json.dumps(record))
    part.replace(out)


def read_subsample(path: str | Path, examples: list[Example]) -> list[Example]:
    """The training rows a subsample file names, in its order; an id the training set lacks is an error."""
    record = read_json(path)
    ids = record.get("ids") if isinstance(record, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{path}: a subsample needs a non-empty list of string 'ids'")
    by_id = {ex.id: ex for ex in examples}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{path}: {len(missing)} id(s) not in the training set, e.g. {missing[:3]}")
    return [by_id[i] for i in ids]
