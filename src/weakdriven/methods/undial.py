"""UNDIAL (Dong et al. 2024; App. E.6): self-distillation on adjusted logits of a frozen teacher.

The target of each supervised position is q = softmax(z_t - gamma * onehot(y)): the teacher's distribution with the
gold token's logit lowered by the strength gamma; the student minimises -sum_v q_v log p_v (equations.py:
``undial_target_logits``, ``soft_target_cross_entropy``; fused over chunks of positions in ``fused.py``, so no
``[N, V]`` logits of either model are held at V = 151,936). Positions the training mask ignores carry no loss.

The paper fixes less than the recipe needs; each open choice is a setting of ``methods.undial`` (README: "Settings
that resolve paper/code ambiguities"):

- ``strength`` gamma. The paper: "logit-smoothing scale sigma = 1.0"; the reference code's ``di_strength`` defaults to
  5 (its README runs 3); open-unlearning's UNDIAL uses 1.0. Default 1.0.
- ``noise``: App. E.6 adds sigma * eps / sqrt(L), eps ~ N(0, 1) ("suppresses target-token logits using stochastic
  penalties"), without saying what it perturbs: ``penalty`` (default: one draw per position added to gamma),
  ``logits`` (a draw per teacher logit) or ``none`` (both reference codes). ``noise_scale`` is that sigma (1.0).
- ``noise_length``: what L counts, ``tokens`` (default: the sequence's length) or ``supervised`` (its answer tokens).
- ``teacher``: ``start`` (default: a frozen copy of the model training starts from, as both reference codes do) or
  ``base`` (M0).
- ``start``: ``m1`` (default: one epoch after the shared SFT warm start; Table 11 times UNDIAL "after the shared SFT
  warm start", 4h31m against SFT's 4h30m) or ``base`` (M0 for the 2-epoch budget).
- ``loss_mask``: ``completion`` (default: the answer tokens, as every other method here) or ``all_tokens`` (the
  reference code masks no prompt position).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .base import BASE, M1, Method

TABLE11_UNDIAL_OVER_SFT = 271 / 270  # Table 11: 4h31m against SFT's 4h30m (the teacher's forward pass is cheap)


@dataclass(frozen=True)
class UNDIALSettings:
    strength: float = 1.0         # gamma: the paper's sigma = 1.0 (reference code 5, its README 3; open-unlearning 1.0)
    noise: str = "penalty"        # none | penalty | logits
    noise_scale: float = 1.0      # sigma of App. E.6's sigma * eps / sqrt(L)
    noise_length: str = "tokens"  # tokens | supervised: what L counts
    teacher: str = "start"        # start: a frozen copy of the start model; base: M0
    start: str = M1               # m1: after the shared warm start (Table 11); base: M0 for the whole budget
    loss_mask: str = "completion"  # completion | all_tokens (the reference code masks nothing)


class UNDIAL(Method):
    def start_key(self, exp) -> str:
        return BASE if self.settings(exp).start == "base" else M1

    def models(self, run, exp) -> dict[str, str]:
        """The start (``strong``) and, when the teacher is M0 but training starts from M1, M0 as ``weak``."""
        keys = {"strong": self.start_key(exp)}
        if self.settings(exp).teacher == "base" and keys["strong"] != BASE:
            keys["weak"] = BASE
        return keys

    def options(self, exp) -> dict:
        return asdict(self.settings(exp))

    def cost_factor(self, exp, domain: str) -> float:
        return TABLE11_UNDIAL_OVER_SFT

    def train(self, job) -> dict:
        from ..training import encode_dataset, load_causal_lm, train_distilled

        s, o = job.settings, job.options
        teacher_path = job.strong
        if o["teacher"] == "base" and o["start"] != "base":
            if not job.weak:
                raise ValueError(f"run {job.run.name}: methods.undial.teacher is base (M0): pass M0 as --weak")
            teacher_path = job.weak
        student, tokenizer = load_causal_lm(job.strong, bf16=s.bf16, attn_implementation=s.attn_implementation)
        teacher, _ = load_causal_lm(teacher_path, bf16=s.bf16, attn_implementation=s.attn_implementation)
        data = encode_dataset(tokenizer, job.examples, job.system_prompt, s.max_length, o["loss_mask"])
        extra = {"method": self.name, "seed": s.seed, "start": str(job.strong), "teacher": str(teacher_path),
                 "loss_mask": o["loss_mask"]}
        return train_distilled(student, teacher, tokenizer, data, s, job.out, strength=o["strength"],
                               noise=o["noise"], noise_scale=o["noise_scale"], noise_length=o["noise_length"],
                               keep=job.keep, extra_summary=extra)


METHOD = UNDIAL("undial", "UNDIAL", loss="distill", settings_type=UNDIALSettings)
