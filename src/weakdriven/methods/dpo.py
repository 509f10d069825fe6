"""DPO (App. B.9, Table 10): preference pairs from the warm start's own graded rollouts, then DPO from M1.

Before training, the generic ``method_data`` rule makes the part ``rollouts``: M1 samples ``rollouts`` answers per
prompt (4, T = 0.8) and math-verify labels each against the row's gold answer. A prompt's pair is the first correct
rollout in sampling order (chosen) and the first incorrect one (rejected); prompts without both are skipped, and the
counts are logged and kept in the training summary. Training is 1 epoch of DPO from M1 through TRL's ``DPOTrainer``
(sigmoid loss, a frozen copy of M1 as the reference), evaluated beside WMSS under the pass@k protocol.

The paper names neither beta nor the learning rate for this baseline: ``methods.dpo`` defaults to TRL's (beta 0.1,
lr 1e-6). ``prompts`` is the subsample size; none (the default, "the same math data") answers every training row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ..checks import check_yield
from ..data.chat import write_jsonl
from ..data.generated import read_rollouts, rollouts_by_prompt
from ..data.subsample import read_subsample
from ..eval.generation import Protocol
from .base import M1, SUBSAMPLE, DataPart, Method, full_rows
from .sampling import graded_rollouts

log = logging.getLogger(__name__)

ROLLOUTS = "rollouts"


@dataclass(frozen=True)
class DPOSettings:
    prompts: int | None = None   # None: every training row (App. B.9: "the same math data"); else a subsample size
    rollouts: int = 4            # App. B.9: 4 rollouts per prompt
    temperature: float = 0.8     # App. B.9
    max_new_tokens: int = 4096   # not in the paper: the training max length
    beta: float = 0.1            # not in the paper: TRL's default
    learning_rate: float = 1e-6  # not in the paper: TRL's default
    loss_type: str = "sigmoid"   # DPO's (TRL's name)
    min_pairs: int = 1           # fewer pairs fail the rollouts job, naming the skipped prompts' counts


def rollout_pairs(examples: list, rollouts: list[dict], source: str) -> tuple[list[dict], dict]:
    """App. B.9's pairs: per prompt, chosen = its first correct rollout, rejected = its first incorrect one (by
    sample index); prompts without both are skipped. Every prompt must have rollouts with distinct indices."""
    by_prompt = rollouts_by_prompt(examples, rollouts, source)
    pairs, all_correct, all_wrong = [], 0, 0
    for ex in examples:
        ordered = by_prompt[ex.id]
        chosen = next((r for r in ordered if r["correct"]), None)
        rejected = next((r for r in ordered if not r["correct"]), None)
        if chosen is None:
            all_wrong += 1
        elif rejected is None:
            all_correct += 1
        else:
            pairs.append({"id": ex.id, "question": ex.question, "chosen": chosen["text"], "rejected": rejected["text"]})
    counts = {"prompts": len(examples), "pairs": len(pairs), "skipped_all_correct": all_correct,
              "skipped_all_incorrect": all_wrong}
    return pairs, counts


class DPO(Method):
    def models(self, run, exp) -> dict[str, str]:
        return {"strong": M1}

    def data_parts(self, run, exp) -> tuple[DataPart, ...]:
        s = self.settings(exp)
        return (DataPart(ROLLOUTS, M1, s.prompts, s.rollouts),)

    def training_overrides(self, exp) -> dict:
        return {"learning_rate": self.settings(exp).learning_rate}

    def options(self, exp) -> dict:
        return asdict(self.settings(exp))

    def cost_factor(self, exp, domain: str) -> float:
        """One DPO epoch on at most one pair per prompt."""
        rows = full_rows(exp, domain)
        return min(self.settings(exp).prompts or rows, rows) / rows * exp.raw["cost"]["preference_loss_factor"]

    def data_options(self, exp, part: str) -> dict:
        o = self.options(exp)
        return {k: o[k] for k in ("prompts", "rollouts", "temperature", "max_new_tokens", "min_pairs")}

    def make_data(self, part: str, job) -> dict:
        """M1's rollouts, each graded by math-verify against the row's gold answer -> ``job.out``."""
        if part != ROLLOUTS:
            return super().make_data(part, job)
        o = job.stage.options
        protocol = Protocol("dpo-rollouts", temperature=o["temperature"], top_p=1.0, n=o["rollouts"])
        rows = graded_rollouts(job, protocol, o["max_new_tokens"])
        _, counts = rollout_pairs(job.examples, rows, str(job.out))
        check_yield(f"run {job.run.name}: DPO pairs (prompts with a correct and an incorrect rollout)",
                    counts["pairs"], o["min_pairs"], counts, "methods.dpo.min_pairs")
        write_jsonl(job.out, rows)
        summary = {"part": part, **counts, "rollouts": len(rows), "correct": sum(r["correct"] for r in rows),
                   "model": str(job.model)}
        log.info("DPO rollouts: %s", json.dumps(summary))
        return summary

    def train(self, job) -> dict:
        from ..training import train_preference

        s, o = job.settings, job.options
        if ROLLOUTS not in job.parts:
            raise ValueError(f"run {job.run.name} trains on M1's graded rollouts: pass --parts {ROLLOUTS}=<file>")
        source = job.parts[ROLLOUTS]
        examples = read_subsample(job.parts[SUBSAMPLE], job.examples) if SUBSAMPLE in job.parts else job.examples
        pairs, counts = rollout_pairs(examples, read_rollouts(source), source)
        log.info("DPO pairs: %s", json.dumps(counts))
        check_yield(f"{source}: DPO pairs (prompts with a correct and an incorrect rollout)", counts["pairs"],
                    max(o["min_pairs"], 1), counts, "methods.dpo.min_pairs")
        extra = {"method": self.name, "seed": s.seed, "start": str(job.strong), "rollouts": str(Path(source)),
                 **counts}
        return train_preference(job.strong, pairs, job.system_prompt, s, job.out, beta=o["beta"],
                                loss_type=o["loss_type"], keep=job.keep, extra_summary=extra)


METHOD = DPO("dpo", "DPO", loss="dpo", settings_type=DPOSettings)
