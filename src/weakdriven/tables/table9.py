"""Table 9 (App. B.8): the mixing coefficient λ swept, greedy pass@1 (%) of WMSS per λ, each the mean of
``replicates`` independent training runs (the paper: three), on one backbone (the paper: Qwen3-4B-Base).

Rows are the benchmarks and their "Avg." (the paper's Table 9 has no AMC23 row), columns the λ values. A λ's replicate
r > 1 is a run of its own (``wmss_lam0.42_r2``: its own training seed and WD-DS draw); replicate 1 at the default λ is
Table 1's WMSS run itself (one measurement per model). Every run reuses SFT, M1 and the entropies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..methods import METHODS, Run
from .base import Inputs, Needs, Table
from .paper import BACKBONE_LABELS
from .score_table import score_cells

TABLE9_ROWS = {"AIME2025": "AIME25", "AQuA": "AQUA"}  # as Table 9 prints them


@dataclass(frozen=True)
class LambdaSweep:
    backbones: tuple[str, ...]
    method: str
    benchmarks: tuple[str, ...]
    lambdas: tuple[float, ...]
    replicates: int
    protocol: str


def lambda_sweep(exp, name: str = "table9") -> LambdaSweep:
    raw = exp.raw["tables"][name]
    return LambdaSweep(tuple(raw["backbones"]), raw["method"], tuple(raw["benchmarks"]),
                       tuple(float(v) for v in raw["lambdas"]), raw["replicates"],
                       raw.get("protocol", exp.evaluation.protocol))


def lambda_run(exp, method: str, lam: float, replicate: int) -> str:
    m = METHODS[method]
    return Run(m, lam, exp.wmss.iterations if m.iterative else 1, replicate=replicate).name


def column_label(lam: float) -> str:
    return f"{lam:g}"


class Table9(Table):
    schema = "lambda_sweep_table"

    def needs(self, exp) -> Needs:
        spec = lambda_sweep(exp, self.name)
        return Needs(scores=tuple(
            (b, s, lambda_run(exp, spec.method, lam, r), bench, spec.protocol)
            for b in spec.backbones for s in exp.seeds for lam in spec.lambdas
            for r in range(1, spec.replicates + 1) for bench in spec.benchmarks))

    def spec(self, exp) -> dict[str, Any]:
        spec = lambda_sweep(exp, self.name)
        return {"benchmarks": list(spec.benchmarks), "lambdas": list(spec.lambdas)}

    @staticmethod
    def labelled(scores: pd.DataFrame) -> pd.DataFrame:
        """Score records with their cell: group = backbone, row = benchmark, column = λ."""
        return scores.assign(group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                             row=scores["benchmark"].map(lambda b: TABLE9_ROWS.get(b, b)),
                             column=scores["lam"].map(column_label))

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        df = self.labelled(data.scores)
        rows = [TABLE9_ROWS.get(b, b) for b in spec["benchmarks"]]
        columns = [column_label(lam) for lam in spec["lambdas"]]
        wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
        wide = wide.reindex(columns=columns)
        blocks = []
        for group, block in wide.groupby(level="group"):
            block = block.droplevel("group").reindex(rows)
            block.loc["Avg."] = block.mean(axis=0)
            blocks.append(block.round(1).reset_index().assign(group=group))
        out = pd.concat(blocks, ignore_index=True)
        out.columns.name = None
        return out[["group", "row", *columns]]

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """A benchmark's cell (its replicates as seeds) and the "Avg." row: the mean over the benchmarks of a λ."""
        labelled = self.labelled(data.scores)
        # the average is a row here: relabel each record's column as its row to reuse the average machinery
        by_lambda = score_cells(labelled, {})
        averages = score_cells(labelled.assign(row="Avg."), {})
        return pd.concat([by_lambda, averages], ignore_index=True)

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Pass@1 against λ per benchmark and their average; the paper's curve as open markers."""
        ax = fig.add_subplot()
        lambdas = [c for c in wide.columns if c not in ("group", "row")]
        for (group, row), block in wide.groupby(["group", "row"], sort=False):
            (line,) = ax.plot([float(x) for x in lambdas], block[lambdas].iloc[0], marker="o",
                              lw=2.5 if row == "Avg." else 1.2, label=f"{group} {row}")
            paper = reported[reported.row == row]
            if len(paper):
                ax.plot(paper["column"].astype(float), paper["value"], ls=":", marker="s", mfc="none",
                        color=line.get_color(), label=f"{row} (paper)")
        ax.set_xlabel("λ (weight of the strong logits, Eq. 5)")
        ax.set_ylabel("pass@1 (%)")
        ax.legend(fontsize=6, ncol=2)
        return True


TABLE = Table9("table9", "sensitivity to the mixing coefficient λ (pass@1, %)")
