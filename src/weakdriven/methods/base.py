"""What a method plug-in declares, and the run names that say which model a job trains.

A method is one file under ``methods/`` holding a :class:`Method` (or a subclass) and one line in the registry
(``methods/__init__.py``). The workflow asks the method, never a list of names, for:

* its start models (:meth:`Method.models`): the strong side it starts from (M0 = ``base``, M1 = ``m1``, or M_t at
  Algorithm 1's iteration t), the weak side of a mixed-logit method, and the WD-DS active set it trains on;
* its budget (:meth:`Method.epochs`), its extra ``TrainingArguments`` (:meth:`Method.trainer_arguments`), the
  training settings it fixes itself (:meth:`Method.training_overrides`: SPIN's learning rate) and the options its
  trainer reads (:meth:`Method.options`, part of the train rule's params: a change reruns its runs only);
* the files it makes before training and trains on besides the training set (:meth:`Method.data_parts`, made by the
  generic ``method_data`` rule through :meth:`Method.make_data`: SPIN's generated answers);
* its cost factor against one epoch of SFT (:meth:`Method.cost_factor`, for ``weakdriven cost`` and runtimes);
* its trainer (:meth:`Method.train`, run by the generic ``train`` rule);
* its typed config section ``methods.<name>`` (``settings_type``), if it has knobs of its own.

This module imports no torch: the workflow and the table jobs import the registry.

A *run* is one trained model: a method plus what varies it. Its name is also its directory under runs/:
    sft                          the SFT baseline (M1 is its epoch-1 checkpoint)
    neftune                      a method without coordinates
    wmss_lam0.5                  WMSS, lambda = 0.5, outer iteration 1 of Algorithm 1 (weak M0, strong M1) -> M2
    wmss_lam0.5_k2               outer iteration 2 (weak M1, strong M2) -> M3 (``wmss.iterations: 2``)
    wdjt_only_lam0.5_weakck50    the weak side is the SFT run's relative checkpoint ck-50 instead of M0 (Figure 5)
    wmss_lam0.5_abg0.2-0.7-0.1   WD-DS shares (alpha, beta, gamma) = (0.2, 0.7, 0.1): its own selection (Table 8)
    wmss_lam0.42_r3              the third independent training run (own training seed and WD-DS draw; Table 9)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..data.am_code import PAPER_COUNTS as CODE_PAPER_COUNTS
from ..data.logic import RELEASE_ROWS as LOGIC_RELEASE_ROWS

if TYPE_CHECKING:
    from ..config import Experiment

M1 = "m1"                      # model key of the SFT run's epoch-1 checkpoint (the shared initialization)
BASE = "base"                  # model key of M0
SNAPSHOT = re.compile(r"ck(\d+)")  # relative checkpoint labels: ck50 = step 50 of the paper's 218-step epoch
NUMBER_PATTERN = r"\d+(?:\.\d+)?"  # a coordinate's value in a run name (``number``)
SHARES_PATTERN = rf"{NUMBER_PATTERN}-{NUMBER_PATTERN}-{NUMBER_PATTERN}"  # WD-DS shares alpha-beta-gamma
RUN_PATTERN = rf"[a-z_]+?(?:_lam{NUMBER_PATTERN})?(?:_abg{SHARES_PATTERN})?(?:_k\d+)?(?:_weakck\d+)?(?:_r\d+)?"
_RUN = re.compile(rf"(?P<method>[a-z_]+?)(?:_lam(?P<lam>{NUMBER_PATTERN}))?(?:_abg(?P<abg>{SHARES_PATTERN}))?"
                  rf"(?:_k(?P<k>\d+))?(?:_weak(?P<weak>ck\d+))?(?:_r(?P<rep>\d+))?")
DEFAULT_SELECTION = "default"  # the WD-DS selection of a run without shares or replicate coordinates
REPLICATE_SEED_STRIDE = 1000   # replicate r trains (and draws its WD-DS selection) with seed + 1000 (r - 1)

SUBSAMPLE = "subsample"        # the train job's name for the subsample file a data part was generated on
REGISTRY: dict[str, Method] = {}  # filled by methods/__init__.py (``register``): the only list of methods


def number(value: float) -> str:
    """A coordinate in a run name: plain decimal (never an exponent, which no run pattern admits), up to 10 places, so
    values that differ past 6 significant digits keep distinct names and shares still sum to 1 when parsed back."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def register(*methods: Method) -> dict[str, Method]:
    for m in methods:
        if m.name in REGISTRY:
            raise ValueError(f"method {m.name!r} is registered twice")
        REGISTRY[m.name] = m
    return REGISTRY


@dataclass(frozen=True)
class DataPart:
    """A file a method makes before it trains (``runs/<bb>/seed<s>/<run>/data/<name>.jsonl``): ``samples`` answers
    per prompt generated from the model ``model`` (a model key) on the prompts of the per-seed subsample of
    ``subsample`` rows (None: every training row), made after the run's parts named in ``after``, which it reads
    (SSB's teacher answers read its graded rollouts)."""

    name: str
    model: str
    subsample: int | None = None
    samples: int = 1
    after: tuple[str, ...] = ()


def full_rows(exp: Experiment, domain: str) -> int:
    """Rows of a domain's full training set as the config states them, before the data exist (for cost estimates):
    math from ``train_data``; code ``code_data.expected_rows`` (else the paper's kept count); logic the expected kept
    or candidate count (else the splits' release sizes, an upper bound); mix the three together."""
    if domain == "mix":
        return sum(full_rows(exp, d) for d in ("math", "code", "logic"))
    if domain == "code":
        return exp.code_data.expected_rows or CODE_PAPER_COUNTS["kept"]
    if domain == "logic":
        expected = exp.logic_data.expected or {}
        return (expected.get("kept") or expected.get("candidates")
                or sum(LOGIC_RELEASE_ROWS.get(s, 0) for s in exp.logic_data.splits) or 1)
    td = exp.train_data
    return td.max_rows or td.expected_rows or td.n_train or 1


@dataclass(frozen=True)
class Method(ABC):
    name: str
    label: str                 # row label as the paper prints it
    loss: str = "sft"          # "sft": CE of the strong model; "mixed": CE of z_mix (Eq. 6), needs a weak side;
                               # a baseline's own: "distill" (UNDIAL), "dpo" (SPIN)
    data: str = "full"         # "full": the training set; "wdds": the WD-DS active set of its weak/strong pair
    uses_lambda: bool = False
    freeze_weak: bool = False  # True: the weak branch is never updated (App. B.1's "Frozen base")
    iterative: bool = False    # Algorithm 1's outer loop (K > 1) applies
    start: str = M1            # strong start of iteration 1: M1 (App. E.5's shared warm start) or M0 (BASE)
    settings_type: type | None = None  # the frozen dataclass of its config section ``methods.<name>``

    def run_name(self, lam: float | None = None) -> str:
        return Run(self, lam).name

    def settings(self, exp: Experiment) -> Any:
        """Its typed ``methods.<name>`` section (None for a method without one)."""
        return exp.methods.get(self.name)

    def start_key(self, exp: Experiment) -> str:
        """Model key of the strong start at iteration 1 (``base`` or ``m1``)."""
        return self.start

    def models(self, run: Run, exp: Experiment) -> dict[str, str]:
        """Model keys a run starts from: ``strong`` (always), ``weak`` (mixed loss, or the pair WD-DS compares)."""
        keys = {"weak": run.weak_key} if self.loss == "mixed" or self.data == "wdds" else {}
        keys["strong"] = run.strong_key if run.iteration > 1 else self.start_key(exp)
        return keys

    def epochs(self, exp: Experiment) -> float:
        """Its share of the 2-epoch budget (App. E.5): what is left after its start."""
        return exp.training.sft_epochs if self.start_key(exp) == BASE else exp.training.joint_epochs

    def trainer_arguments(self, exp: Experiment) -> dict[str, Any]:
        """``transformers.TrainingArguments`` fields the method sets itself (passed through unchanged)."""
        return {}

    def training_overrides(self, exp: Experiment) -> dict[str, Any]:
        """Fields of the training settings the method sets itself (``TrainSettings`` names: SPIN's learning rate)."""
        return {}

    def data_parts(self, run: Run, exp: Experiment) -> tuple[DataPart, ...]:
        """The files the method makes before training a run (none for most methods)."""
        return ()

    def make_data(self, part: str, job: Any) -> dict:
        """Make one of :meth:`data_parts` (a :class:`weakdriven.methods.DataJob`); returns its summary."""
        raise NotImplementedError(f"method {self.name!r} makes no data part {part!r}")

    def options(self, exp: Experiment) -> dict[str, Any]:
        """What its trainer reads from the config besides the training settings (JSON values; ``TrainJob.options``)."""
        return {}

    def data_options(self, exp: Experiment, part: str) -> dict[str, Any]:
        """What :meth:`make_data` reads from the config to make ``part`` (the ``method_data`` rule's params, so a
        change of a training-only knob such as the learning rate does not regenerate the data); default:
        :meth:`options`."""
        return self.options(exp)

    def cost_factor(self, exp: Experiment, domain: str) -> float:
        """GPU time of one of its epochs relative to one SFT epoch on the domain's full set."""
        factor = exp.raw["cost"]["mixed_loss_factor"] if self.loss == "mixed" else 1.0
        if self.data == "wdds" and exp.wmss.dedup:
            factor *= exp.raw["cost"]["dedup_active_fraction"]
        return factor

    @abstractmethod
    def train(self, job) -> dict:
        """Train one run (a :class:`weakdriven.methods.TrainJob`); returns the training summary."""


@dataclass(frozen=True)
class Run:
    """One trained model: ``method`` at ``lam``, outer ``iteration`` t of Algorithm 1, weak side ``weak``, WD-DS shares
    ``mix`` (None: the config's ``wmss.alpha/beta/gamma``) and independent training run ``replicate``."""

    method: Method
    lam: float | None = None
    iteration: int = 1
    weak: str = BASE     # BASE (M0) or a relative checkpoint label of the SFT run ("ck50")
    mix: tuple[float, float, float] | None = None  # (alpha, beta, gamma) of its WD-DS selection (Table 8)
    replicate: int = 1   # r > 1: another training run with its own seeds (Table 9's three runs per lambda)

    def __post_init__(self) -> None:
        m = self.method
        if m.uses_lambda != (self.lam is not None):
            raise ValueError(f"method {m.name!r} {'needs a' if m.uses_lambda else 'takes no'} lambda")
        if self.iteration < 1 or (self.iteration > 1 and not m.iterative):
            raise ValueError(f"method {m.name!r}: iteration {self.iteration} (only iterative methods have t > 1)")
        if self.weak != BASE and (m.loss != "mixed" or self.iteration > 1 or not SNAPSHOT.fullmatch(self.weak)):
            raise ValueError(f"method {m.name!r}: weak side {self.weak!r} needs a mixed-logit method at t = 1 and a "
                             "label ck<step>")
        if self.mix is not None:
            if m.data != "wdds":
                raise ValueError(f"method {m.name!r} trains on every row: WD-DS shares {self.mix} change nothing")
            if len(self.mix) != 3 or min(self.mix) < 0 or abs(sum(self.mix) - 1.0) > 1e-6:
                raise ValueError(f"WD-DS shares {self.mix} must be three non-negative numbers that sum to 1")
        if self.replicate < 1:
            raise ValueError(f"replicate {self.replicate}: runs are numbered from 1")

    @property
    def name(self) -> str:
        name = self.method.name
        if self.lam is not None:
            name += f"_lam{number(self.lam)}"
        if self.mix is not None:
            name += "_abg" + "-".join(number(v) for v in self.mix)
        if self.iteration > 1:
            name += f"_k{self.iteration}"
        if self.weak != BASE:
            name += f"_weak{self.weak}"
        if self.replicate > 1:
            name += f"_r{self.replicate}"
        return name

    @property
    def selection(self) -> str:
        """Which WD-DS selection of its weak/strong pair it trains on: ``default``, or its shares and replicate
        (``abg0.2-0.7-0.1``, ``r2``, ``abg0.2-0.7-0.1_r2``); a directory level of the selection's path."""
        parts = (["abg" + "-".join(number(v) for v in self.mix)] if self.mix is not None else []) + (
            [f"r{self.replicate}"] if self.replicate > 1 else [])
        return "_".join(parts) or DEFAULT_SELECTION

    def seed(self, seed: int) -> int:
        """The seed its training (and its WD-DS draw) uses for the experiment seed ``seed``."""
        return int(seed) + REPLICATE_SEED_STRIDE * (self.replicate - 1)

    @classmethod
    def parse(cls, name: str) -> Run:
        methods = REGISTRY
        match = _RUN.fullmatch(name)
        if not match or match["method"] not in methods:
            raise ValueError(f"unknown run {name!r}: expected <method>[_lam<λ>][_abg<α>-<β>-<γ>][_k<t>][_weakck<step>]"
                             f"[_r<replicate>] with a method in {sorted(methods)}")
        try:
            mix = tuple(float(v) for v in match["abg"].split("-")) if match["abg"] else None
            return cls(methods[match["method"]], float(match["lam"]) if match["lam"] else None,
                       int(match["k"] or 1), match["weak"] or BASE, mix, int(match["rep"] or 1))
        except ValueError as err:
            raise ValueError(f"run {name!r}: {err}") from None

    def previous(self) -> Run | None:
        """The run whose output is this run's strong start (Algorithm 1 line 13); None when that is M1."""
        return None if self.iteration == 1 else Run(self.method, self.lam, self.iteration - 1, self.weak, self.mix,
                                                    self.replicate)

    @property
    def strong_key(self) -> str:
        """Model key of the strong start of the WMSS family: M_t (M1 for t = 1, else the output of iteration t-1)."""
        prev = self.previous()
        return M1 if prev is None else prev.name

    @property
    def weak_key(self) -> str:
        """Model key of the weak start: M_{t-1} (M0 or an SFT snapshot for t = 1, M1 for t = 2, ...)."""
        if self.iteration == 1:
            return BASE if self.weak == BASE else f"sft@{self.weak}"
        before = (Run(self.method, self.lam, self.iteration - 2, self.weak, self.mix, self.replicate)
                  if self.iteration > 2 else None)
        return M1 if before is None else before.name
