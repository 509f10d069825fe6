"""Figure 3: accuracy after each epoch of an extended WMSS schedule (M1, then Algorithm 1's outer iterations)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..methods import M1, METHODS, Run
from .base import Inputs, Needs, Table
from .paper import BACKBONE_LABELS
from .score_table import score_cells


def labelled_figure3(scores: pd.DataFrame, benchmarks: list[str]) -> pd.DataFrame:
    """Score records with their cell: group = backbone, row = "Epoch <e>" (epoch 1 is M1, run "m1"; epoch t + 1 the
    output of Algorithm 1's outer iteration t: wmss_lam<λ>, ..._k2, ..._k3), column = benchmark."""
    def epoch(run: str) -> int:
        return 1 if run == "m1" else Run.parse(run).iteration + 1

    df = scores[scores.benchmark.isin(benchmarks)]
    return df.assign(group=df.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)), epoch=df.run.map(epoch),
                     row=df.run.map(lambda r: f"Epoch {epoch(r)}"), column=df.benchmark, pct=100 * df.accuracy)


def build_figure3(scores: pd.DataFrame, benchmarks: list[str]) -> pd.DataFrame:
    """Figure 3 data: accuracy (%) after each epoch of an extended WMSS schedule, and their Avg."""
    df = labelled_figure3(scores, benchmarks)
    wide = df.pivot_table(index=["group", "epoch"], columns="benchmark", values="pct", aggfunc="mean")
    wide = wide.reindex(columns=benchmarks)
    wide["Avg."] = wide[benchmarks].mean(axis=1)
    wide = wide.reset_index().sort_values(["group", "epoch"])
    wide.insert(1, "row", wide.pop("epoch").map(lambda e: f"Epoch {e}"))
    return wide.reset_index(drop=True).round(1)


def figure3_runs(exp) -> list[str]:
    """Epoch 1 = M1; epoch t + 1 = WMSS after outer iteration t (one epoch each)."""
    return [M1] + [Run(METHODS["wmss"], exp.wmss.lam, t).name for t in range(1, exp.figure3.epochs)]


class Figure3(Table):
    schema = "figure3_table"

    def configured(self, exp) -> bool:
        return exp.figure3 is not None

    def needs(self, exp) -> Needs:
        spec, protocol = exp.figure3, exp.evaluation.protocol
        return Needs(scores=tuple((b, s, run, bench, protocol) for b in spec.backbones for s in exp.seeds
                                  for run in figure3_runs(exp) for bench in spec.benchmarks))

    def spec(self, exp) -> dict[str, Any]:
        return {"benchmarks": list(exp.figure3.benchmarks)}

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Accuracy per epoch, one line per benchmark and backbone (the paper prints no number of Figure 3)."""
        ax = fig.add_subplot()
        for group, block in wide.groupby("group"):
            epochs = block["row"].str.removeprefix("Epoch ").astype(int)
            for col in [c for c in block.columns if c not in ("group", "row")]:
                ax.plot(epochs, block[col], marker="o", lw=2.5 if col == "Avg." else 1.2, label=f"{group} {col}")
        ax.set_xlabel("epoch (1 = M1, t + 1 = outer iteration t)")
        ax.set_ylabel("pass@1 (%)")
        ax.legend(fontsize=7)
        return True

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_figure3(data.scores, spec["benchmarks"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """Each epoch's benchmark cells and their Avg.: the paper prints no number of Figure 3, the report shows the
        measured intervals."""
        df = labelled_figure3(data.scores, spec["benchmarks"])
        return score_cells(df, {"Avg.": list(spec["benchmarks"])})


TABLE = Figure3("figure3", "accuracy per epoch of an extended WMSS schedule")
