"""What a table plug-in declares, and the one way every table is built.

A paper artifact is one module under ``tables/`` holding a :class:`Table` and one line in the registry
(``tables/__init__.py``). It declares:

* the form of its config section ``tables.<name>`` (:attr:`Table.schema`, a ``$defs`` entry of the config schema:
  the config's ``tables`` keys are the registry's tables of a schema) and its own config checks (:meth:`Table.check`);
* whether the experiment builds it (:meth:`Table.configured`);
* every cell it reads (:meth:`Table.needs`): score records (backbone, seed, run, benchmark, protocol), snapshot scores
  (backbone, seed, run, benchmark), entropy gaps (backbone, seed, weak) or other outputs, by path; the training
  domain of a cell's run follows from its benchmark (``Experiment.run_domain``: code columns <- code runs);
* what its builder reads from the config (:meth:`Table.spec`, JSON);
* its builder (:meth:`Table.build`) from the loaded inputs to the paper's layout;
* which score records each of its cells comes from (:meth:`Table.cells`), for the cells' intervals and verdicts
  (tables/verdicts.py); a table that says nothing has no intervals;
* its figure in the report (:meth:`Table.plot`, drawn on a matplotlib figure it is handed), if it has one.

The generic ``table`` rule asks for exactly the files of :meth:`Table.needs`; the job loads them, checks that every
cell is there exactly once (:func:`build`), and builds. The per-table diff (``tables/<name>.diff.csv``) compares the
result with the paper's reported numbers (tables/diff.py).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from .. import paths
from ..methods import METHODS, SNAPSHOT
from .scores import check_cells, check_gaps, load_gaps, load_scores, load_snapshot_scores

if TYPE_CHECKING:
    from ..config import Experiment


@dataclass(frozen=True)
class Needs:
    """Every input cell of one table."""

    scores: tuple[tuple, ...] = ()      # (backbone, seed, run, benchmark, protocol): score records
    snapshots: tuple[tuple, ...] = ()   # (backbone, seed, run, benchmark): a run's snapshot scores
    gaps: tuple[tuple, ...] = ()        # (backbone, seed, weak): Figure 5's entropy gaps
    files: tuple[str, ...] = ()         # other outputs, read as they are (the diagnostics' Tables 6 and 7)

    def paths(self, exp: Experiment) -> dict[str, list[str]]:
        """The input files by kind (kinds without cells are left out): a benchmark's scores are those of the runs of
        its training domain (``Experiment.run_domain``); the entropy gaps are of the primary domain's SFT run (Figure
        5's benchmarks share one domain)."""
        name, domain = exp.name, exp.run_domain
        gap_domain = domain(exp.figure5.benchmarks[0]) if exp.figure5 else exp.primary_domain
        out = {
            "scores": sorted({paths.scores(name, b, domain(bench), s, r, bench, p)
                              for b, s, r, bench, p in self.scores}),
            "snapshots": [paths.snapshot_scores(name, b, domain(bench), s, r, bench)
                          for b, s, r, bench in self.snapshots],
            "gaps": [paths.diagnostics(name, b, gap_domain, s, f"entropy_gap/{w}.json") for b, s, w in self.gaps],
            "files": list(self.files),
        }
        return {kind: files for kind, files in out.items() if files}

    def to_dict(self) -> dict[str, list]:
        return {"scores": [list(c) for c in self.scores], "snapshots": [list(c) for c in self.snapshots],
                "gaps": [list(c) for c in self.gaps], "files": list(self.files)}

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> Needs:
        return cls(**{kind: tuple(tuple(c) if isinstance(c, list) else c for c in d.get(kind, []))
                      for kind in ("scores", "snapshots", "gaps", "files")})


@dataclass(frozen=True)
class Inputs:
    """The loaded inputs a builder gets (None: the table reads no such kind)."""

    scores: pd.DataFrame | None = None
    snapshots: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Table(ABC):
    name: str
    title: str  # as the paper captions it, shortly
    # the config schema's $defs entry its ``tables.<name>`` section follows; None: not configured under ``tables``
    schema: ClassVar[str | None] = None

    def check(self, raw: dict[str, Any]) -> str | None:
        """What is wrong with this table's config section beyond the schema (the config raises it as a ConfigError
        naming the key), or None."""
        return None

    def configured(self, exp: Experiment) -> bool:
        return self.name in exp.raw["tables"]

    @abstractmethod
    def needs(self, exp: Experiment) -> Needs:
        """Every cell the table reads."""

    def spec(self, exp: Experiment) -> dict[str, Any]:
        """What :meth:`build` reads from the config (JSON-able; it is the table rule's settings)."""
        return dict(exp.raw["tables"][self.name])

    @abstractmethod
    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """The paper's layout from the loaded inputs."""

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame | None:
        """The records behind each cell of :meth:`build`'s layout (:func:`record_cells`), or None."""
        return None

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Draw the artifact on the matplotlib figure ``fig`` from its built layout ``wide``, the paper's printed
        numbers (``reported``, long format) overlaid; False: the artifact has no figure in the report."""
        return False

    @property
    def has_plot(self) -> bool:
        return type(self).plot is not Table.plot


# ---- row order and labels shared by several layouts ---------------------------------------------------------------
def row_labels(scores: pd.DataFrame, names: dict[str, str], label_lambda: bool) -> pd.Series:
    """Paper row labels; with a lam grid, lam-using methods get one row per lam ("WMSS (λ=0.3)")."""
    def label(method: str, lam: float) -> str:
        base = names.get(method, METHODS[method].label)
        return f"{base} (λ={lam:g})" if label_lambda and METHODS[method].uses_lambda else base

    labels = [label(m, lam) for m, lam in zip(scores["method"], scores["lam"], strict=True)]
    return pd.Series(labels, index=scores.index)


def checkpoint_order(label: str) -> int:
    """base (M0) < ck50 < ck100 < ... < final, for labels "ck50" / "50" / "ck-50"."""
    if label == "base":
        return 0
    match = SNAPSHOT.fullmatch("ck" + label.removeprefix("ck").removeprefix("-"))
    return int(match[1]) if match else 10**9


def sorted_by_checkpoint(wide: pd.DataFrame) -> pd.DataFrame:
    key = wide["row"].map(checkpoint_order)
    return wide.assign(_key=key).sort_values(["group", "_key"]).drop(columns="_key").reset_index(drop=True)


# ---- the records behind a table's cells (tables/verdicts.py) -----------------------------------------------------
CELL_COLUMNS = ["group", "row", "column", "side", "backbone", "run", "checkpoint", "protocol", "benchmark", "seed",
                "problems", "accuracy", "samples_per_prompt", "outcomes", "scale", "statistic"]


def record_cells(labelled: pd.DataFrame, side: str = "measured", scale: float = 100.0,
                 statistic: str = "accuracy") -> pd.DataFrame:
    """Score or snapshot records labelled with the (group, row, column) cell they feed, as :meth:`Table.cells` rows:
    ``side`` measured, or baseline (the row a gain column subtracts); ``scale`` 100 for a percent cell, 1 for a
    fraction; ``statistic`` what the cell estimates from them (tables/verdicts.py: accuracy, or pass@<k>; a
    ``statistic`` column of ``labelled`` wins)."""
    frame = labelled.copy()
    per = frame["samples_per_prompt"] if "samples_per_prompt" in frame else pd.Series(1, index=frame.index)
    frame["samples_per_prompt"] = per.fillna(1).astype(int)
    frame["problems"] = frame["n"] // frame["samples_per_prompt"]
    outcomes = frame["outcomes"] if "outcomes" in frame else pd.Series(None, index=frame.index, dtype=object)
    frame["outcomes"] = [json.dumps(o, sort_keys=True) if isinstance(o, dict) else "" for o in outcomes]
    if "protocol" not in frame:  # snapshot scores: the protocol of the run's evaluation
        frame["protocol"] = ""
    if "checkpoint" not in frame:  # score records: the run's final model
        frame["checkpoint"] = "final"
    if "statistic" not in frame:
        frame["statistic"] = statistic
    return frame.assign(side=side, scale=scale)[CELL_COLUMNS]


NOT_COMPARABLE = "not comparable"  # the statistic of a cell of another quantity than the paper's: "<this>: <why>"


def exact_cells(wide: pd.DataFrame, columns: list[str], why_not_comparable: str | None = None) -> pd.DataFrame:
    """Cells of ``wide`` (the built layout) whose values are exact (counts, without sampling error): the diff takes
    each measured value as its own interval, so the verdict says whether the paper's number is the same. With
    ``why_not_comparable``, cells that measure another quantity than the paper's under this config (Figure 4's steps
    at another batch size or without dedup): the diff marks them so, with the reason, and gives no verdict."""
    statistic = f"{NOT_COMPARABLE}: {why_not_comparable}" if why_not_comparable else "exact"
    long = wide.melt(id_vars=["group", "row"], value_vars=columns, var_name="column", value_name="value")
    long = long[long["value"].notna() & (long["value"].astype(str) != "")]
    long = pd.DataFrame({"group": long["group"], "row": long["row"], "column": long["column"], "side": "measured",
                         "scale": 1.0, "statistic": statistic}).reindex(columns=CELL_COLUMNS)
    return long.astype(object).where(long.notna(), "")


# ---- the one build path -------------------------------------------------------------------------------------------
def build(table: Table, spec: dict[str, Any], needs: Needs, files: dict[str, list[str]]) -> pd.DataFrame:
    """Load ``files`` (by kind), check that they hold every cell of ``needs`` exactly once, and build ``table``."""
    return table.build(load_inputs(table, needs, files), spec)


def load_inputs(table: Table, needs: Needs, files: dict[str, list[str]]) -> Inputs:
    """The inputs of ``table`` from ``files`` (by kind), checked to hold every cell of ``needs`` exactly once."""

    name = table.name
    scores = load_scores(files["scores"]) if files.get("scores") else None
    snapshots = load_snapshot_scores(files["snapshots"]) if files.get("snapshots") else None
    gaps = load_gaps(files["gaps"]) if files.get("gaps") else None
    for kind, frame, wanted in (("scores", scores, needs.scores), ("snapshots", snapshots, needs.snapshots)):
        if not wanted:
            continue
        if frame is None:
            raise ValueError(f"{name}: no {kind} given, the table needs {len(wanted)}")
        # only the cells the table needs (a score record of another protocol is another cell)
        keys = ["backbone", "seed", "run", "benchmark"] + (["protocol"] if kind == "scores" and "protocol" in frame
                                                            else [])
        cells = {tuple(c[:len(keys)]) for c in wanted}
        frame = frame[[cell in cells for cell in zip(*(frame[k] for k in keys), strict=True)]]
        finals = frame[frame.checkpoint == "final"] if kind == "snapshots" else frame  # one row per file
        check_cells(finals, [tuple(c[:4]) for c in wanted], f"{name} ({kind})")
        if kind == "scores":
            scores = frame
        else:
            snapshots = frame
    if needs.gaps:
        check_gaps(gaps, list(needs.gaps), name)
    missing = [f for f in needs.files if f not in files.get("files", [])]
    if missing:
        raise ValueError(f"{name}: inputs {missing} were not given")
    return Inputs(scores, snapshots, gaps, list(files.get("files", [])))

