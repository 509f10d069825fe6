"""The method registry and run names: config method names -> what a run trains. Only implemented methods appear here.

``sft`` trains the base model M0 for ``training.sft_epochs`` epochs and keeps its epoch-1 checkpoint as M1. Every other
method starts from M1 (App. E.5: 1 SFT warm-up epoch + 1 further epoch) and trains ``training.joint_epochs`` epochs.

A *run* is one trained model: a method plus what varies it. Its name is also its directory under runs/:
    sft                          the SFT baseline (M1 is its epoch-1 checkpoint)
    wmss_lam0.5                  WMSS, lambda = 0.5, outer iteration 1 of Algorithm 1 (weak M0, strong M1) -> M2
    wmss_lam0.5_k2               outer iteration 2 (weak M1, strong M2) -> M3 (``wmss.iterations: 2``)
    wdjt_only_lam0.5_weakck50    the weak side is the SFT run's relative checkpoint ck-50 instead of M0 (Figure 5)
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    label: str           # row label as the paper prints it
    loss: str            # "sft": CE of the strong model; "mixed": CE of z_mix (Eq. 6)
    data: str            # "full": the training set; "wdds": the WD-DS active set
    uses_lambda: bool
    freeze_weak: bool = False  # True: the weak branch is never updated (App. B.1's "Frozen base")
    iterative: bool = False    # Algorithm 1's outer loop (K > 1) applies

    def run_name(self, lam: float | None = None) -> str:
        return Run(self, lam).name


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("sft", "SFT", loss="sft", data="full", uses_lambda=False),
        Method("wmss", "WMSS", loss="mixed", data="wdds", uses_lambda=True, iterative=True),
        Method("wdds_only", "+ WD-DS", loss="sft", data="wdds", uses_lambda=False),
        Method("wdjt_only", "+ WD-JT", loss="mixed", data="full", uses_lambda=True),
        Method("wdjt_frozen", "Frozen base", loss="mixed", data="full", uses_lambda=True, freeze_weak=True),
    )
}

M1 = "m1"                      # model key of the SFT run's epoch-1 checkpoint (the shared initialization)
BASE = "base"                  # model key of M0
SNAPSHOT = re.compile(r"ck(\d+)")  # relative checkpoint labels: ck50 = step 50 of the paper's 218-step epoch
RUN_PATTERN = r"[a-z_]+?(?:_lam\d+(?:\.\d+)?)?(?:_k\d+)?(?:_weakck\d+)?"
_RUN = re.compile(r"(?P<method>[a-z_]+?)(?:_lam(?P<lam>\d+(?:\.\d+)?))?(?:_k(?P<k>\d+))?(?:_weak(?P<weak>ck\d+))?")


@dataclass(frozen=True)
class Run:
    """One trained model: ``method`` at ``lam``, outer ``iteration`` t of Algorithm 1, weak side ``weak``."""

    method: Method
    lam: float | None = None
    iteration: int = 1
    weak: str = BASE     # BASE (M0) or a relative checkpoint label of the SFT run ("ck50")

    def __post_init__(self) -> None:
        m = self.method
        if m.uses_lambda != (self.lam is not None):
            raise ValueError(f"method {m.name!r} {'needs a' if m.uses_lambda else 'takes no'} lambda")
        if self.iteration < 1 or (self.iteration > 1 and not m.iterative):
            raise ValueError(f"method {m.name!r}: iteration {self.iteration} (only iterative methods have t > 1)")
        if self.weak != BASE and (m.loss != "mixed" or self.iteration > 1 or not SNAPSHOT.fullmatch(self.weak)):
            raise ValueError(f"method {m.name!r}: weak side {self.weak!r} needs a mixed-logit method at t = 1 and a "
                             "label ck<step>")

    @property
    def name(self) -> str:
        name = self.method.name
        if self.lam is not None:
            name += f"_lam{self.lam:g}"
        if self.iteration > 1:
            name += f"_k{self.iteration}"
        if self.weak != BASE:
            name += f"_weak{self.weak}"
        return name

    @classmethod
    def parse(cls, name: str) -> Run:
        match = _RUN.fullmatch(name)
        if not match or match["method"] not in METHODS:
            raise ValueError(f"unknown run {name!r}: expected <method>[_lam<λ>][_k<t>][_weakck<step>] with a method "
                             f"in {sorted(METHODS)}")
        try:
            return cls(METHODS[match["method"]], float(match["lam"]) if match["lam"] else None,
                       int(match["k"] or 1), match["weak"] or BASE)
        except ValueError as err:
            raise ValueError(f"run {name!r}: {err}") from None

    def previous(self) -> Run | None:
        """The run whose output is this run's strong start (Algorithm 1 line 13); None when that is M1."""
        return None if self.iteration == 1 else Run(self.method, self.lam, self.iteration - 1, self.weak)

    @property
    def strong_key(self) -> str:
        """Model key of the strong start: M_t (M1 for t = 1, else the output of iteration t - 1)."""
        prev = self.previous()
        return M1 if prev is None else prev.name

    @property
    def weak_key(self) -> str:
        """Model key of the weak start: M_{t-1} (M0 or an SFT snapshot for t = 1, M1 for t = 2, ...)."""
        if self.iteration == 1:
            return BASE if self.weak == BASE else f"sft@{self.weak}"
        before = Run(self.method, self.lam, self.iteration - 2, self.weak) if self.iteration > 2 else None
        return M1 if before is None else before.name


def parse_run(run: str) -> tuple[Method, float | None]:
    """The method and lambda of a run name: ``"wmss_lam0.5_k2"`` -> (METHODS["wmss"], 0.5)."""
    parsed = Run.parse(run)
    return parsed.method, parsed.lam
