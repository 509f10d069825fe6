"""WD-DS bookkeeping (Sec. 4.2): entropy shards and their merge, the entropy files, the active set drawn from the
weak/strong entropies (Eqs. 7-9 are in equations.py). numpy only: the tables container reads entropy files too
(Figure 5's entropy gap) and has no torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .. import device as device_rule
from ..data.chat import Example, load_examples, read_jsonl, write_jsonl
from ..data.gemma import training_examples
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


# ---- the stages the WD-DS rules run -----------------------------------------------------------------------------
def entropy_stage(stage, model: str, data: str, shard: int, shards: int, out: str) -> None:
    """Eq. (7) for every training row of block ``shard`` of ``shards`` under ``model`` (an EntropyStage)."""
    from ..training import completion_entropies, load_causal_lm  # torch: the train container

    examples = training_examples(data, stage.prompt.family)
    start, end = shard_bounds(len(examples), shard, shards)
    net, tokenizer = load_causal_lm(model, bf16=stage.bf16, attn_implementation=stage.attn_implementation,
                                    device=device_rule.job_device(stage.gpus))
    rows = completion_entropies(net, tokenizer, examples[start:end],
                                stage.prompt.system_prompt if stage.system_prompt else None, stage.max_length)
    write_jsonl(out, rows)


def merge_stage(shards: list[str], data: str, out: str) -> None:
    rows = {path: list(read_jsonl(path, ("id",))) for path in shards}
    write_jsonl(out, merge_entropy_shards(rows, [ex.id for ex in load_examples(data)]))


def select_stage(stage, weak: str, strong: str, out: str) -> dict:
    """The active set of a weak/strong pair (a WddsStage), with the optimizer steps it means (Fig. 4 / Sec. 6.5:
    one joint stage on the active set vs on the full set, 123 vs 218 there)."""
    result = select_active(read_entropies(weak), read_entropies(strong), stage.alpha, stage.beta, stage.gamma,
                           stage.formula, stage.dedup, stage.sampling_seed, source=f"{weak} and {strong}")
    result["steps_active"] = math.ceil(result["n_active"] / stage.global_batch_size * stage.joint_epochs)
    result["steps_full"] = math.ceil(result["n_pool"] / stage.global_batch_size * stage.joint_epochs)
    result["active_step_fraction"] = result["steps_active"] / result["steps_full"]
    result["settings"] = {k: getattr(stage, k) for k in ("alpha", "beta", "gamma", "formula", "dedup",
                                                         "sampling_seed")}
    Path(out).write_text(json.dumps(result, indent=1))
    return result


def entropy_gap(weak: str, strong: str, backbone: str, seed: int, weak_label: str, out: str) -> None:
    """Figure 5's entropy separation of a weak/strong pair: mean and std over samples of H_weak - H_strong."""
    h_weak, h_strong = read_entropies(weak), read_entropies(strong)
    if h_weak.keys() != h_strong.keys():
        raise ValueError(f"{weak} and {strong} cover different sample ids, "
                         f"e.g. {sorted(h_weak.keys() ^ h_strong.keys())[:5]}")
    gap = np.array([h_weak[i] - h_strong[i] for i in h_weak])
    Path(out).write_text(json.dumps({
        "backbone": backbone, "seed": seed, "weak": weak_label, "n": int(gap.size),
        "h_weak_mean": float(np.mean(list(h_weak.values()))),
        "h_strong_mean": float(np.mean(list(h_strong.values()))),
        "delta_h_mean": float(gap.mean()), "delta_h_std": float(gap.std()),
    }, indent=1))
