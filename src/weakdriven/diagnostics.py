"""Mechanism diagnostics: the logit statistics of Tables 6 and 7 (App. B.4) and the lambda crossover (Eq. 17).

Statistics are taken over the supervised (completion) positions of a fixed random sample of training examples
(the paper: 200 examples of its training set). Per-position quantities are averaged over positions; z_max and z_min
are the extremes over all positions (the paper's values, e.g. 60.50 and -35.75, are single bf16 logits).
"""

from __future__ import annotations

import random

import pandas as pd
import torch

from . import device as device_rule
from .data.chat import Example, encode_example
from .data.gemma import training_examples
from .methods.equations import lambda_crossover, token_entropy
from .provenance import cite, record
from .tables.diagnostics import TABLE6_ROWS, TABLE7_ROWS, table6, table7  # noqa: F401 (the layout)
from .training import load_causal_lm

STAT_ORDER = ("target", "distractor_mean", "gap", "mean", "std", "centered_norm", "max", "min", "l2_norm", "entropy",
              "max_prob")


def position_statistics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-position statistics of ``[P, V]`` logits with targets ``[P]`` (each a ``[P]`` tensor, fp64)."""
    z = logits.double()
    v = z.shape[-1]
    target = z.gather(1, targets[:, None]).squeeze(1)
    mean = z.mean(-1)
    centered = z - mean[:, None]
    probs = torch.softmax(z, -1)
    return {
        "target": target,                                    # z_target
        "distractor_mean": (z.sum(-1) - target) / (v - 1),   # z_bg: mean of the non-target logits
        "gap": target - (z.sum(-1) - target) / (v - 1),      # Delta_gap = z_target - z_bg
        "mean": mean,                                        # z_mean
        "std": z.std(-1, unbiased=False),                    # sigma
        "centered_norm": centered.norm(dim=-1),              # ||z~||_2, Eq. (48)
        "max": z.max(-1).values,
        "min": z.min(-1).values,
        "l2_norm": z.norm(dim=-1),                           # ||z||_2
        "entropy": token_entropy(z),                         # H
        "max_prob": probs.max(-1).values,                    # p_max
    }


def aggregate(per_position: dict[str, torch.Tensor]) -> dict[str, float]:
    """Average every statistic over positions, except z_max / z_min which are the extremes."""
    out = {k: float(t.mean()) for k, t in per_position.items()}
    out["max"] = float(per_position["max"].max())
    out["min"] = float(per_position["min"].min())
    return out


def sample_examples(examples: list[Example], n: int, seed: int) -> list[Example]:
    if n > len(examples):
        raise ValueError(f"asked for {n} diagnostic examples, the training set has {len(examples)}")
    return random.Random(seed).sample(examples, n)


@torch.no_grad()
def model_logit_statistics(model, tokenizer, examples: list[Example], system_prompt: str | None,
                           max_length: int) -> tuple[dict[str, float], list[dict]]:
    """Table 6/7 statistics of one model over the completion positions of ``examples``, and each example's share:
    its positions and, per statistic, its sum over them (a mean's numerator) or its extreme (z_max, z_min). An
    example without a completion position (truncated away) has no share."""
    model.eval()
    device = next(model.parameters()).device  # placed by the stage (weakdriven.device.job_device)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in STAT_ORDER}
    shares = []
    for i, ex in enumerate(examples):
        enc = encode_example(tokenizer, ex, system_prompt, max_length, "completion")
        ids = torch.tensor([enc["input_ids"]], device=device)
        logits = model(input_ids=ids).logits[0, :-1]
        targets = ids[0, 1:]
        keep = torch.tensor(enc["completion_mask"][1:], dtype=torch.bool, device=device)
        if not keep.any():
            continue
        stats = position_statistics(logits[keep], targets[keep])
        share = {"example": i, "positions": int(keep.sum())}
        for k in STAT_ORDER:
            parts[k].append(stats[k].cpu())
            t = stats[k]
            share[k] = float(t.max() if k == "max" else t.min() if k == "min" else t.sum())
        shares.append(share)
    if not shares:
        raise ValueError(f"none of the {len(examples)} diagnostic examples has a completion position within "
                         f"max_length {max_length}")
    return aggregate({k: torch.cat(v) for k, v in parts.items()}), shares


def crossover_from_stats(strong: dict[str, float], weak: dict[str, float]) -> float:
    """Eq. (17) from the centered norms of the strong (pre-update) and weak models."""
    return lambda_crossover(strong["centered_norm"], weak["centered_norm"])


def logit_stats_stage(stage, weak: str, strong_pre: str, strong_post: str, sft: str, data: str, out_dir: str,
                      wmss: str | None = None) -> None:
    """Tables 6 and 7 and the λ crossover of one backbone and seed (a DiagnosticsStage): Table 7 from M0 (the weak
    init), M1 (strong pre) and ``strong_post`` (after WD-JT, ``stage.table7_run``), Table 6 from SFT and ``wmss``
    (``stage.table6_run``; default: ``strong_post``). A model given twice is read once."""
    import json
    import logging
    from pathlib import Path


    log = logging.getLogger(__name__)
    examples = sample_examples(training_examples(data, stage.prompt.family), stage.n_examples, stage.seed)
    device = device_rule.job_device(stage.gpus)
    stats, shares, by_path = {}, [], {}
    models = (("weak_init", weak), ("strong_pre", strong_pre), ("strong_post", strong_post), ("sft", sft),
              ("wmss", wmss or strong_post))
    for name, path in models:
        if str(path) not in by_path:
            model, tokenizer = load_causal_lm(path, bf16=stage.bf16, device=device)
            by_path[str(path)] = model_logit_statistics(model, tokenizer, examples, stage.prompt.system_prompt,
                                                        stage.max_length)
        stats[name], per_example = by_path[str(path)]
        shares += [{"model": name, **share} for share in per_example]
        log.info("logit statistics of %s (%s): %s", name, path, stats[name])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table6(stats["sft"], stats["wmss"]).to_csv(out / "table6.csv", index=False)
    table7(stats["weak_init"], stats["strong_pre"], stats["strong_post"]).to_csv(out / "table7.csv", index=False)
    # each example's share of every statistic: the tables' intervals bootstrap the examples (tables/verdicts.py)
    pd.DataFrame(shares).to_csv(out / "logit_examples.csv", index=False)
    stats["lambda_crossover"] = crossover_from_stats(stats["strong_pre"], stats["weak_init"])
    stats["n_examples"] = stage.n_examples
    stats["runs"] = {"table6_wmss": stage.table6_run, "table7_strong_post": stage.table7_run}
    stats["provenance"] = record(stage.to_json(), seed=stage.seed)
    (out / "logit_stats.json").write_text(json.dumps(stats, indent=1))
    summaries = [str(Path(p) / "train_summary.json") for p in dict.fromkeys((weak, strong_pre, strong_post, sft,
                                                                              wmss or strong_post))
                 if (Path(p) / "train_summary.json").is_file()]  # M0 and M1 carry none: M1 is inside the SFT run
    for table in ("table6.csv", "table7.csv"):
        cite(out / table, summaries, stage.to_json())
