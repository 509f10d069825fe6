"""SFT (Eq. 1): completion-only next-token cross-entropy of M0 on the training set (App. E.5).

The SFT run is also the shared initialization: its epoch-1 checkpoint is M1, the start of every method that continues
from the warm start. Its own rule (``sft``) therefore writes M1, the 2-epoch baseline and the relative checkpoints of
Figure 5; the generic ``train`` rule trains every other method.

Launch (what the `sft` rule runs; on a cluster under `torchrun --standalone --nproc_per_node <GPUs> -m weakdriven.cli`):
    weakdriven train-sft --settings '<json>' --base results/<exp>/models/<bb>/base \\
        --data results/<exp>/data/train.jsonl --epochs 2 --seed 42 \\
        --m1-out results/<exp>/runs/<bb>/seed42/sft/epoch1 --out results/<exp>/runs/<bb>/seed42/sft/final
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .base import BASE, Method


def run_sft(base: str | Path, examples, system_prompt: str, settings, out: str | Path,
            m1_out: str | Path | None = None, snapshots=None, method: str = "sft") -> dict:
    """Train ``base`` for ``settings.epochs`` epochs on the completions; with ``m1_out`` the epoch-1 checkpoint is kept
    as M1, with ``snapshots`` (a ``training.Keep``) its relative checkpoints too."""
    from ..training import Keep, encode_dataset, load_causal_lm, train_causal_lm

    model, tokenizer = load_causal_lm(base, bf16=settings.bf16, attn_implementation=settings.attn_implementation)
    data = encode_dataset(tokenizer, examples, system_prompt, settings.max_length, "completion")
    keep = replace(snapshots or Keep(), epoch=1 if m1_out else None, epoch_out=m1_out)
    extra = {"method": method, "seed": settings.seed, "start": str(base),
             "trainer_arguments": dict(settings.trainer_arguments)}
    return train_causal_lm(model, tokenizer, data, settings, out, keep=keep, extra_summary=extra)


class SFT(Method):
    """Completion-only CE from a start model; subclasses change only the trainer arguments (NEFTune)."""

    def train(self, job) -> dict:
        return run_sft(job.strong, job.examples, job.system_prompt, job.settings, job.out, snapshots=job.keep,
                       method=self.name)


METHOD = SFT("sft", "SFT", start=BASE)
