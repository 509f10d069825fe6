"""Table 1: main results on the math and code benchmarks (pass@1, %), one block per backbone."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..benchmarks import BENCHMARKS
from ..methods import METHODS
from .base import Inputs, row_labels
from .paper import BACKBONE_LABELS, TABLE1_COLUMNS
from .score_table import ScoreTable, score_cells

DOMAIN_AVERAGES = {"math": "Math Avg.", "code": "Code Avg.", "logic": "Logic Avg."}


def labelled_table1(scores: pd.DataFrame, label_lambda: bool) -> pd.DataFrame:
    """Score records with their Table 1 cell: group = backbone, row = method (and lambda), column = benchmark."""
    return scores.assign(column=scores["benchmark"].map(lambda b: TABLE1_COLUMNS.get(b, b)),
                         group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                         row=row_labels(scores, {}, label_lambda))


def domain_columns(benchmarks: list[str]) -> dict[str, list[str]]:
    """Each configured domain's average column -> its benchmark columns, in the table's order."""
    out = {avg: [TABLE1_COLUMNS.get(b, b) for b in benchmarks if BENCHMARKS[b].domain == domain]
           for domain, avg in DOMAIN_AVERAGES.items()}
    return {avg: cols for avg, cols in out.items() if cols}


def table1_cells(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """The records behind each Table 1 cell: a benchmark's, a domain average's, and an average gain's (with its SFT
    baseline)."""
    return score_cells(labelled_table1(scores, label_lambda), domain_columns(benchmarks), METHODS["sft"].label)


def build_table1(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 1 layout: one row per (backbone, method), one column per benchmark (pass@1, %), each domain's columns
    followed by their average (Math Avg., Code Avg.; Logic Avg. if logic benchmarks are configured) and, when the
    table has SFT rows, the average's gain over its backbone's SFT row ("Math Avg. Δ", empty for SFT itself)."""
    df = labelled_table1(scores, label_lambda)
    wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
    wide = wide.reindex(columns=[TABLE1_COLUMNS.get(b, b) for b in benchmarks])  # a missing score stays NaN
    order = []
    sft = METHODS["sft"].label
    has_sft = sft in set(df["row"])
    for avg, cols in domain_columns(benchmarks).items():
        if cols:
            wide[avg] = wide[cols].mean(axis=1).round(1)
            order += [*cols, avg]
            if has_sft:  # the paper's "Math Avg. Δ": a row's printed average minus its backbone's SFT row's
                baseline = wide[avg].xs(sft, level="row")
                groups = wide.index.get_level_values("group")
                delta = wide[avg].to_numpy() - baseline.reindex(groups).to_numpy()
                wide[f"{avg} Δ"] = [None if r == sft else d for r, d in
                                    zip(wide.index.get_level_values("row"), delta, strict=True)]
                order.append(f"{avg} Δ")
    wide = wide[order].astype(float).round(1).reset_index()
    # rows in the registry's order (the paper's: SFT, the baselines, WMSS), then by lambda, within each backbone
    rank = {label: (list(METHODS).index(m), float(lam) if lam is not None and lam == lam else -1.0)
            for label, m, lam in zip(df["row"], df["method"], df["lam"], strict=True)}
    key = wide["row"].map(rank)
    return wide.assign(_key=key).sort_values(["group", "_key"], kind="stable").drop(columns="_key") \
        .reset_index(drop=True)


class Table1(ScoreTable):
    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_table1(data.scores, spec["benchmarks"], spec["label_lambda"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return table1_cells(data.scores, spec["benchmarks"], spec["label_lambda"])


TABLE = Table1("table1", "main results (pass@1, %)")
