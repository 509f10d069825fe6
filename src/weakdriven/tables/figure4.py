"""Figure 4 (Sec. 6.5): accuracy along optimizer steps with and without WD-DS, from the shared initialization."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..methods import M1
from .base import Inputs, Needs
from .paper import BACKBONE_LABELS
from .table3 import TrajectoryTable

LABELS = {"wdjt_only": "w/o WD-DS", "wmss": "w/ WD-DS"}   # Sec. 6.5


def build_figure4(snaps: pd.DataFrame, init: pd.DataFrame, methods: list[str], benchmarks: list[str]) -> pd.DataFrame:
    """Figure 4 data: accuracy (fraction, as the paper's text) along optimizer steps from the shared initialization
    (M1, step 0) for each variant, their Avg., and the active-step fraction of the WD-DS variant (123 / 218 there)."""
    labels = LABELS
    rows = []
    for backbone, block in init[init.benchmark.isin(benchmarks)].groupby("backbone"):
        rows.append({"backbone": backbone, "row": "shared initialization", "step": 0,
                     **dict(zip(block.benchmark, block.accuracy, strict=True))})
    df = snaps[snaps.method.isin(methods) & snaps.benchmark.isin(benchmarks)]
    for (backbone, method, checkpoint), block in df.groupby(["backbone", "method", "checkpoint"]):
        label = labels[method] if checkpoint == "final" else f"{labels[method]} ck-{checkpoint.removeprefix('ck')}"
        rows.append({"backbone": backbone, "row": label, "step": int(block.step.iloc[0]),
                     **dict(zip(block.benchmark, block.accuracy, strict=True))})
    wide = pd.DataFrame(rows).groupby(["backbone", "row"], as_index=False).first()
    wide["Avg."] = wide[benchmarks].mean(axis=1)
    wide = wide.rename(columns={"step": "steps"})
    finals = wide.set_index(["backbone", "row"])["steps"]
    if {"wdjt_only", "wmss"} <= set(methods):
        fraction = {b: 100 * finals.get((b, labels["wmss"]), np.nan) / finals.get((b, labels["wdjt_only"]), np.nan)
                    for b in wide.backbone.unique()}
        is_final = wide.row == labels["wmss"]
        wide.loc[is_final, "active fraction (%)"] = wide.loc[is_final, "backbone"].map(fraction)
    wide.insert(0, "group", wide.pop("backbone").map(lambda b: BACKBONE_LABELS.get(b, b)))
    wide = wide.sort_values(["group", "steps", "row"]).reset_index(drop=True)
    return wide.round({b: 3 for b in benchmarks} | {"Avg.": 3, "active fraction (%)": 1})


class Figure4(TrajectoryTable):
    def needs(self, exp) -> Needs:
        spec = exp.trajectory_tables[self.name]
        protocol = exp.evaluation.protocol  # step 0: the shared initialization M1's scores
        init = tuple((b, s, M1, bench, protocol)
                     for b in spec.backbones for s in exp.seeds for bench in spec.benchmarks)
        return Needs(scores=init, snapshots=super().needs(exp).snapshots)

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Accuracy along optimizer steps, one panel per benchmark, a line per variant from the shared initialization;
        the paper's stated points (Sec. 6.5) as open markers at its own steps."""
        benchmarks = [c for c in wide.columns if c not in ("group", "row", "steps", "Avg.", "active fraction (%)")]
        axes = fig.subplots(1, len(benchmarks), squeeze=False)[0]
        paper = reported.pivot_table(index="row", columns="column", values="value", aggfunc="first")
        for ax, bench in zip(axes, benchmarks, strict=True):
            for label in LABELS.values():
                rows = wide[(wide.row == "shared initialization") | wide.row.str.startswith(label)]
                rows = rows[~rows.row.str.startswith("w/o") | label.startswith("w/o")] if label == "w/ WD-DS" else rows
                ax.plot(rows["steps"], rows[bench], marker="o", label=f"{label} (measured)")
                if label in paper.index and bench in paper.columns:
                    steps = [0, paper.loc[label, "steps"]]
                    values = [paper.loc["shared initialization", bench], paper.loc[label, bench]]
                    ax.plot(steps, values, ls=":", marker="s", mfc="none", label=f"{label} (paper)")
            ax.set_title(bench)
            ax.set_xlabel("optimizer steps")
            ax.set_ylabel("accuracy")
            ax.legend(fontsize=7)
        return True

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_figure4(data.snapshots, data.scores, spec["methods"], spec["benchmarks"])


TABLE = Figure4("figure4", "accuracy along optimizer steps")
