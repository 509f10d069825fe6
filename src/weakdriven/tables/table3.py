"""Table 3 (App. B.1): WD-JT only vs the frozen base along relative checkpoints (pass@1, %)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..methods import trajectory_run
from .base import Inputs, Needs, Table, record_cells, sorted_by_checkpoint
from .paper import BACKBONE_LABELS

LABELS = {"wdjt_only": "WD-JT only (w/o WD-DS)", "wdjt_frozen": "Frozen base"}   # App. B.1


def labelled_table3(snaps: pd.DataFrame, methods: list[str], benchmarks: list[str]) -> pd.DataFrame:
    df = snaps[snaps.method.isin(methods) & snaps.benchmark.isin(benchmarks)]
    return df.assign(group=df.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)),
                     row=df.checkpoint.map(lambda c: c.removeprefix("ck")),
                     column=df.method.map(LABELS.get) + " " + df.benchmark, pct=100 * df.accuracy)


def build_table3(snaps: pd.DataFrame, methods: list[str], benchmarks: list[str]) -> pd.DataFrame:
    """Table 3 layout: rows = relative checkpoints (50 ... final), columns = "<variant> <benchmark>" (pass@1, %)."""
    labels = LABELS
    df = labelled_table3(snaps, methods, benchmarks)
    wide = df.pivot_table(index=["group", "row"], columns="column", values="pct", aggfunc="mean")
    wide = wide.reindex(columns=[f"{labels[m]} {b}" for m in methods for b in benchmarks]).reset_index()
    return sorted_by_checkpoint(wide).round(1)


class TrajectoryTable(Table):
    """Scores of the methods' relative checkpoints and final models (one outer iteration, the default lambda)."""

    schema = "trajectory_table"

    def configured(self, exp) -> bool:
        return self.name in exp.trajectory_tables

    def needs(self, exp) -> Needs:
        spec = exp.trajectory_tables[self.name]
        runs = [(b, s, trajectory_run(exp, m)) for b in spec.backbones for s in exp.seeds for m in spec.methods]
        return Needs(snapshots=tuple((*r, bench) for r in runs for bench in spec.benchmarks))

    def spec(self, exp) -> dict[str, Any]:
        spec = exp.trajectory_tables[self.name]
        return {"methods": list(spec.methods), "benchmarks": list(spec.benchmarks)}


class Table3(TrajectoryTable):
    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_table3(data.snapshots, spec["methods"], spec["benchmarks"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return record_cells(labelled_table3(data.snapshots, spec["methods"], spec["benchmarks"]))


TABLE = Table3("table3", "WD-JT only vs frozen base along checkpoints (pass@1, %)")
