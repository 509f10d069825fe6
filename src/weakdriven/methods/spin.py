"""SPIN (Chen et al. 2024; App. E.6): one self-play iteration, i.e. DPO of M1 against its own answers.

Before training, the generic ``method_data`` rule makes the part ``generated``: M1 answers the prompts of the
per-seed subsample (App. E.5: 20K rows "due to the high cost of their rollout phases", shared with SSB) at
temperature 1.0 ("following SPIN Sec. 4 for rejected-sample diversity"). Training then runs 1 epoch of DPO from M1
(TRL's ``DPOTrainer``, sigmoid loss) on pairs chosen = the row's gold completion, rejected = M1's answer, with a
frozen copy of M1 as the reference: beta 0.1, learning rate 5e-7, gradient clip 0.5, 10 % warm-up.

Settings (``methods.spin``; README: "Settings that resolve paper/code ambiguities"): ``prompts`` (the subsample's
size), ``temperature``, ``max_new_tokens`` (the generation length, which the paper does not give), ``beta``,
``learning_rate``, ``max_grad_norm``, ``warmup_ratio`` and ``loss_type`` (TRL's name of the DPO loss).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.chat import write_jsonl
from ..data.generated import read_generated
from ..data.subsample import read_subsample
from ..eval.generation import Protocol
from .base import M1, SUBSAMPLE, DataPart, Method, full_rows
from .sampling import answer_prompts

log = logging.getLogger(__name__)

GENERATED = "generated"


@dataclass(frozen=True)
class SPINSettings:
    prompts: int = 20000          # App. E.5: the 20K subsample of the math pool (shared with SSB)
    temperature: float = 1.0      # App. E.6
    max_new_tokens: int = 4096    # not in the paper: the training max length
    beta: float = 0.1             # App. E.6
    learning_rate: float = 5e-7   # App. E.6 (1e-6 "was unstable")
    max_grad_norm: float = 0.5    # App. E.6 (TRL's default 1.0 "noticeably" less stable)
    warmup_ratio: float = 0.1     # App. E.6
    loss_type: str = "sigmoid"    # DPO's loss, as SPIN's (TRL's name)


def preference_pairs(examples: list, generated: list[dict], source: str) -> tuple[list[dict], dict]:
    """SPIN's pairs: for every prompt, chosen = its gold completion, rejected = the model's answer. Every prompt has
    exactly one answer; the counts (prompts, pairs, answers equal to the gold completion) come back as a summary."""
    by_id = {ex.id: ex for ex in examples}
    answers = {}
    for row in generated:
        if row["id"] not in by_id:
            raise ValueError(f"{source}: answer to id {row['id']!r}, which is not among the subsample's prompts")
        if row["id"] in answers:
            raise ValueError(f"{source}: two answers to id {row['id']!r}")
        answers[row["id"]] = row["text"]
    missing = [i for i in by_id if i not in answers]
    if missing:
        raise ValueError(f"{source}: no answer to {len(missing)} prompt(s), e.g. {missing[:3]}")
    pairs = [{"id": ex.id, "question": ex.question, "chosen": ex.completion, "rejected": answers[ex.id]}
             for ex in examples]
    counts = {"prompts": len(examples), "pairs": len(pairs),
              "rejected_equal_to_chosen": sum(p["chosen"] == p["rejected"] for p in pairs)}
    return pairs, counts


class SPIN(Method):
    def models(self, run, exp) -> dict[str, str]:
        return {"strong": M1}

    def data_parts(self, run, exp) -> tuple[DataPart, ...]:
        return (DataPart(GENERATED, M1, self.settings(exp).prompts),)

    def training_overrides(self, exp) -> dict:
        s = self.settings(exp)
        return {"learning_rate": s.learning_rate, "max_grad_norm": s.max_grad_norm, "warmup_ratio": s.warmup_ratio}

    def options(self, exp) -> dict:
        return asdict(self.settings(exp))

    def cost_factor(self, exp, domain: str) -> float:
        """One DPO epoch on the subsample's pairs."""
        rows = full_rows(exp, domain)
        return min(self.settings(exp).prompts, rows) / rows * exp.raw["cost"]["preference_loss_factor"]

    def data_options(self, exp, part: str) -> dict:
        o = self.options(exp)
        return {k: o[k] for k in ("prompts", "temperature", "max_new_tokens")}

    def make_data(self, part: str, job) -> dict:
        """M1's answers to the subsample's prompts (one per prompt) -> ``job.out`` (JSON Lines: id, text, ...)."""
        if part != GENERATED:
            return super().make_data(part, job)
        o = job.stage.options
        records = answer_prompts(job, Protocol("spin", temperature=o["temperature"], top_p=1.0, n=1),
                                 o["max_new_tokens"])
        rows = [{"id": r["prompt_id"], "text": r["text"], "completion_tokens": r["completion_tokens"],
                 "finish_reason": r["finish_reason"], "temperature": o["temperature"],
                 "checkpoint_sha256": r["checkpoint_sha256"]} for r in records]
        write_jsonl(job.out, rows)
        summary = {"part": part, "prompts": len(job.examples), "answers": len(rows),
                   "truncated": sum(r["finish_reason"] == "length" for r in rows), "model": str(job.model)}
        log.info("SPIN generation: %s", json.dumps(summary))
        return summary

    def train(self, job) -> dict:
        from ..training import train_preference

        s, o = job.settings, job.options
        missing = [name for name in (GENERATED, SUBSAMPLE) if name not in job.parts]
        if missing:
            raise ValueError(f"run {job.run.name} trains on M1's answers to the subsample's prompts: pass "
                             + " ".join(f"--parts {name}=<file>" for name in missing))
        source = job.parts[GENERATED]
        examples = read_subsample(job.parts[SUBSAMPLE], job.examples)
        pairs, counts = preference_pairs(examples, read_generated(source), source)
        log.info("SPIN pairs: %s", json.dumps(counts))
        extra = {"method": self.name, "seed": s.seed, "start": str(job.strong), "generated": str(Path(source)),
                 **counts}
        return train_preference(job.strong, pairs, job.system_prompt, s, job.out, beta=o["beta"],
                                loss_type=o["loss_type"], keep=job.keep, extra_summary=extra)


METHOD = SPIN("spin", "SPIN", loss="dpo", settings_type=SPINSettings)
