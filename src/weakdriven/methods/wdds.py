"""WD-DS bookkeeping (Sec. 4.2): entropy shards and their merge, the entropy files, the active set drawn from the
weak/strong entropies (Eqs. 7-9 are in equations.py). numpy only: the tables container reads entropy files too
(Figure 5's entropy gap) and has no torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.chat import Example
from .equations import wdds_draw, wdds_sampling_weights


def shard_bounds(n_rows: int, shard: int, shards: int) -> tuple[int, int]:
    """The contiguous block [start, end) of rows that shard ``shard`` of ``shards`` scores (sizes differ by <= 1)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in [0, {shards})")
    return shard * n_rows // shards, (shard + 1) * n_rows // shards


def merge_entropy_shards(shards: dict[str, list[dict]], training_ids: list[str]) -> list[dict]:
    """Entropy rows of all shards (keyed by shard file) merged by sample id, in training-set order.

    Every training id must appear exactly once across the shards; the error names the offending file(s) and ids.
    """
    by_id: dict[str, tuple[str, dict]] = {}
    for source, rows in shards.items():
        for row in rows:
            if row["id"] in by_id:
                raise ValueError(f"sample {row['id']!r} is in both {by_id[row['id']][0]} and {source}")
            by_id[row["id"]] = (source, row)
    missing = [i for i in training_ids if i not in by_id]
    unknown = sorted(set(by_id) - set(training_ids))
    if missing or unknown:
        raise ValueError(f"entropy shards do not cover the training set: missing {missing[:5]} "
                         f"({len(missing)} in all), unknown {unknown[:5]} ({len(unknown)} in all)")
    return [by_id[i][1] for i in training_ids]


def read_entropies(path: str | Path) -> dict[str, float]:
    """Sample id -> entropy of an entropy file; a row without a finite entropy is named."""
    import math

    from ..data.chat import read_jsonl

    out = {}
    for row in read_jsonl(path, ("id",)):
        if not isinstance(row.get("entropy"), int | float) or not math.isfinite(row["entropy"]):
            raise ValueError(f"{path}: sample {row['id']!r} has no finite 'entropy' ({row.get('entropy')!r})")
        out[row["id"]] = float(row["entropy"])
    return out


def select_active(h_weak: dict[str, float], h_strong: dict[str, float], alpha: float, beta: float, gamma: float,
                  formula: str, dedup: bool, seed: int, source: str = "entropy files") -> dict:
    """WD-DS Step A: the active set (sample ids in draw order) from per-sample entropies of the weak/strong models."""
    if h_weak.keys() != h_strong.keys():
        differing = sorted(h_weak.keys() ^ h_strong.keys())[:5]
        raise ValueError(f"{source} cover different sample ids, e.g. {differing}")
    ids = list(h_weak)
    probs = wdds_sampling_weights(np.array([h_weak[i] for i in ids]), np.array([h_strong[i] for i in ids]),
                                  alpha, beta, gamma, formula)
    draws = wdds_draw(probs, seed=seed, dedup=dedup)
    return {"ids": [ids[i] for i in draws], "n_pool": len(ids), "n_draws": len(ids), "n_active": int(draws.size),
            "n_unique": int(np.unique(draws).size), "active_fraction": draws.size / len(ids)}


def resolve_active(examples: list[Example], active_ids: list[str], source: str) -> list[Example]:
    by_id = {ex.id: ex for ex in examples}
    unknown = [i for i in active_ids if i not in by_id]
    if unknown:
        raise ValueError(f"{source}: ids not in the training set, e.g. {unknown[:5]}")
    return [by_id[i] for i in active_ids]
