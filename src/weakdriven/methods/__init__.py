"""The method registry: config method names -> what a run trains. Only implemented methods appear here.

``sft`` trains the base model M0 for ``training.sft_epochs`` epochs and keeps its epoch-1 checkpoint as M1. Every other
method starts from M1 (App. E.5: 1 SFT warm-up epoch + 1 further epoch) and trains ``training.joint_epochs`` epochs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    label: str           # row label as the paper prints it
    loss: str            # "sft": CE of the strong model; "mixed": CE of z_mix (Eq. 6), weak = M0, strong = M1
    data: str            # "full": the training set; "wdds": the WD-DS active set
    uses_lambda: bool

    def run_name(self, lam: float | None = None) -> str:
        return f"{self.name}_lam{lam:g}" if self.uses_lambda else self.name


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("sft", "SFT", loss="sft", data="full", uses_lambda=False),
        Method("wmss", "WMSS", loss="mixed", data="wdds", uses_lambda=True),
        Method("wdds_only", "+ WD-DS", loss="sft", data="wdds", uses_lambda=False),
        Method("wdjt_only", "+ WD-JT", loss="mixed", data="full", uses_lambda=True),
    )
}


def parse_run(run: str) -> tuple[Method, float | None]:
    """Inverse of :meth:`Method.run_name`: ``"wmss_lam0.5"`` -> (METHODS["wmss"], 0.5)."""
    name, sep, lam = run.partition("_lam")
    if name not in METHODS:
        raise ValueError(f"unknown run {run!r}: method {name!r} is not one of {sorted(METHODS)}")
    method = METHODS[name]
    if method.uses_lambda != bool(sep):
        raise ValueError(f"run {run!r}: method {name!r} {'needs' if method.uses_lambda else 'takes no'} a _lam suffix")
    return method, (float(lam) if sep else None)
