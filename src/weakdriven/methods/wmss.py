"""WMSS (Algorithm 1): WD-DS selects where to train, WD-JT trains the weak/strong pair on mixed logits.

Phase 1 (initialisation) is SFT (methods/sft.py): weak = M0, strong = M1. Then, per outer iteration:
  Step A, WD-DS (Sec. 4.2): completion entropies of both models (Eq. 7), their discrepancy (Eq. 8), sampling
          weights (Eq. 9 or a variant, `wmss.formula`), |D| draws with replacement, optional dedup.
  Step B, WD-JT (Sec. 4.1): CE of z_mix = lam*z_strong + (1-lam)*z_weak (Eqs. 5-6) on the active set, both branches
          trained unless `wmss.freeze_weak`; the strong branch is saved as an ordinary HF checkpoint.
The ablations of Table 2 use one step each: `wdds_only` = WD-DS data with the SFT loss, `wdjt_only` = WD-JT on all data;
App. B.1's `wdjt_frozen` is `wdjt_only` with the weak branch frozen. Iteration t > 1 (`wmss.iterations`) repeats both
steps with (weak, strong) = (M_{t-1}, M_t) (Algorithm 1 line 13); the run names say which (methods/__init__.py: Run).

WD-DS selection itself (entropy shards, Eq. 9's draw, the active set) is in methods/wdds.py, which needs no torch.

Launch (what the rules run):
    weakdriven entropy ...; weakdriven wdds-select ...;
    weakdriven train-continue --run wmss_lam0.5 --weak <M0> --strong <M1> --data <train.jsonl> \
        --active <active.json> ...
"""

from __future__ import annotations

from pathlib import Path

from ..data.chat import Example
from ..training import Keep, TrainSettings, encode_dataset, load_causal_lm, train_causal_lm, train_joint
from . import Method


def run_continue(method: Method, lam: float | None, weak: str | Path, strong: str | Path, examples: list[Example],
                 system_prompt: str, settings: TrainSettings, out: str | Path, *, freeze_weak: bool,
                 joint_loss_mask: str, joint_system_prompt: bool, keep: Keep | None = None) -> dict:
    """One further stage from ``strong`` (M1, or M_t of Algorithm 1's iteration t) for a method other than ``sft``
    (``examples`` already selected); ``freeze_weak`` is forced on by methods that freeze by definition."""
    freeze_weak = freeze_weak or method.freeze_weak
    extra = {"method": method.name, "seed": settings.seed, "rows_source": method.data, "weak_start": str(weak),
             "strong_start": str(strong)}
    strong_model, tokenizer = load_causal_lm(strong, bf16=settings.bf16,
                                             attn_implementation=settings.attn_implementation)
    if method.loss == "sft":
        data = encode_dataset(tokenizer, examples, system_prompt, settings.max_length, "completion")
        return train_causal_lm(strong_model, tokenizer, data, settings, out, keep=keep, extra_summary=extra)
    weak_model, _ = load_causal_lm(weak, bf16=settings.bf16, attn_implementation=settings.attn_implementation)
    data = encode_dataset(tokenizer, examples, system_prompt if joint_system_prompt else None, settings.max_length,
                          joint_loss_mask)
    return train_joint(weak_model, strong_model, tokenizer, data, settings, lam=lam, freeze_weak=freeze_weak, out=out,
                       keep=keep, extra_summary=extra)
