"""WMSS (Algorithm 1): WD-DS selects where to train, WD-JT trains the weak/strong pair on mixed logits.

Phase 1 (initialisation) is SFT (methods/sft.py): weak = M0, strong = M1. Then, per outer iteration:
  Step A, WD-DS (Sec. 4.2): completion entropies of both models (Eq. 7), their discrepancy (Eq. 8), sampling
          weights (Eq. 9 or a variant, `wmss.formula`), |D| draws with replacement, optional dedup.
  Step B, WD-JT (Sec. 4.1): CE of z_mix = lam*z_strong + (1-lam)*z_weak (Eqs. 5-6) on the active set, both branches
          trained unless `wmss.freeze_weak`; the strong branch is saved as an ordinary HF checkpoint.
The ablations of Table 2 use one step each: `wdds_only` = WD-DS data with the SFT loss, `wdjt_only` = WD-JT on all data;
App. B.1's `wdjt_frozen` is `wdjt_only` with the weak branch frozen. Iteration t > 1 (`wmss.iterations`) repeats both
steps with (weak, strong) = (M_{t-1}, M_t) (Algorithm 1 line 13); the run names say which (methods/base.py: Run).

WD-DS selection itself (entropy shards, Eq. 9's draw, the active set) is in methods/wdds.py, which needs no torch.

Launch (what the `train` rule runs):
    weakdriven train --run wmss_lam0.5 --weak <M0> --strong <M1> --data <train.jsonl> --active <active.json> ...
"""

from __future__ import annotations

from .base import Method


class WeakDriven(Method):
    """WMSS and its ablations: the SFT loss or the mixed-logit loss, on the full set or the WD-DS active set."""

    def options(self, exp) -> dict:
        w = exp.wmss
        return {"freeze_weak": w.freeze_weak, "joint_loss_mask": w.joint_loss_mask,
                "joint_system_prompt": w.joint_system_prompt}

    def train(self, job) -> dict:
        from ..training import encode_dataset, load_causal_lm, train_causal_lm, train_joint

        s, opts = job.settings, job.options
        freeze_weak = opts["freeze_weak"] or self.freeze_weak
        extra = {"method": self.name, "seed": s.seed, "rows_source": self.data, "weak_start": str(job.weak),
                 "strong_start": str(job.strong)}
        strong, tokenizer = load_causal_lm(job.strong, bf16=s.bf16, attn_implementation=s.attn_implementation)
        if self.loss == "sft":
            data = encode_dataset(tokenizer, job.examples, job.system_prompt, s.max_length, "completion")
            return train_causal_lm(strong, tokenizer, data, s, job.out, keep=job.keep, extra_summary=extra)
        weak, _ = load_causal_lm(job.weak, bf16=s.bf16, attn_implementation=s.attn_implementation)
        data = encode_dataset(tokenizer, job.examples, job.system_prompt if opts["joint_system_prompt"] else None,
                              s.max_length, opts["joint_loss_mask"])
        return train_joint(weak, strong, tokenizer, data, s, lam=job.run.lam, freeze_weak=freeze_weak, out=job.out,
                           keep=job.keep, extra_summary=extra)


METHODS = (
    WeakDriven("wmss", "WMSS", loss="mixed", data="wdds", uses_lambda=True, iterative=True),
    WeakDriven("wdds_only", "+ WD-DS", data="wdds"),
    WeakDriven("wdjt_only", "+ WD-JT", loss="mixed", uses_lambda=True),
    WeakDriven("wdjt_frozen", "Frozen base", loss="mixed", uses_lambda=True, freeze_weak=True),
)
