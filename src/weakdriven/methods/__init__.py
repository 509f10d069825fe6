"""The method registry: config method names -> method plug-ins. Only implemented methods appear here.

Adding a method is one file under ``methods/`` (a :class:`~weakdriven.methods.base.Method`; base.py says what it
declares) and one line below; a method with knobs of its own adds its ``methods.<name>`` keys to the config schema and
to the configs. The config schema's method names come from this registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import dpo, neftune, sft, spin, ssb, undial, wmss
from .base import BASE, DEFAULT_SELECTION, M1, RUN_PATTERN, SNAPSHOT, DataPart, Method, Run, register

METHODS: dict[str, Method] = register(
    sft.METHOD,
    undial.METHOD,
    neftune.METHOD,
    spin.METHOD,
    ssb.METHOD,
    dpo.METHOD,
    *wmss.METHODS,
)

__all__ = ["BASE", "DEFAULT_SELECTION", "M1", "METHODS", "RUN_PATTERN", "SNAPSHOT", "DataJob", "DataPart", "Method",
           "Run", "TrainJob", "parse_run", "table_run", "trajectory_run"]


def parse_run(run: str) -> tuple[Method, float | None]:
    """The method and lambda of a run name: ``"wmss_lam0.5_k2"`` -> (METHODS["wmss"], 0.5)."""
    parsed = Run.parse(run)
    return parsed.method, parsed.lam


def table_run(exp, method: str, lam: float | None = None) -> str:
    """The run a table cell of ``method`` shows: iterative methods after ``wmss.iterations`` outer iterations."""
    m = METHODS[method]
    return Run(m, lam if m.uses_lambda else None, exp.wmss.iterations if m.iterative else 1).name


def trajectory_run(exp, method: str) -> str:
    """Table 3 / Figure 4 follow one outer iteration at the default lambda (the paper's setting)."""
    return METHODS[method].run_name(exp.wmss.lam)


@dataclass(frozen=True)
class TrainJob:
    """What a method's trainer gets from the generic ``train`` stage."""

    run: Run
    strong: str             # checkpoint directory of the strong start
    weak: str | None        # the second model: the weak start of mixed-logit methods, UNDIAL's teacher M0
    examples: list          # training records: the WD-DS active set for methods that train on it
    system_prompt: str
    settings: Any           # weakdriven.settings.TrainSettings
    out: str
    keep: Any               # weakdriven.training.Keep: relative checkpoints to keep
    options: dict           # the method's own options (Method.options: wmss freeze_weak, ...; undial strength, ...)
    parts: dict = field(default_factory=dict)  # its data parts (Method.data_parts): name -> file


@dataclass(frozen=True)
class DataJob:
    """What a method's :meth:`~Method.make_data` gets from the generic ``method_data`` stage."""

    run: Run
    model: str              # checkpoint directory the part is generated from
    examples: list          # the prompts: the training rows of the subsample (or all of them)
    stage: Any              # weakdriven.stages.MethodDataStage: prompt, options, generation backend, seed
    out: str
    parts: dict = field(default_factory=dict)  # the run's parts this one reads (DataPart.after): name -> file
