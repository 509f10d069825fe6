"""Table 2: the module ablation (Baseline, + WD-DS, + WD-JT, WMSS) on one backbone (pass@1, %)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .base import Inputs, row_labels
from .paper import BACKBONE_LABELS, TABLE2_COLUMNS, TABLE2_ROWS
from .score_table import ScoreTable, score_cells


def labelled_table2(scores: pd.DataFrame, label_lambda: bool) -> pd.DataFrame:
    return scores.assign(column=scores["benchmark"].map(lambda b: TABLE2_COLUMNS.get(b, b)),
                         group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                         row=row_labels(scores, TABLE2_ROWS, label_lambda))


def build_table2(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 2 layout: Baseline / + WD-DS / + WD-JT / WMSS rows, benchmark columns and their Avg. (pass@1, %)."""
    cols = [TABLE2_COLUMNS.get(b, b) for b in benchmarks]
    df = labelled_table2(scores, label_lambda)
    wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
    wide = wide.reindex(columns=cols)
    wide["Avg."] = wide[cols].mean(axis=1)
    order = {"Baseline": 0, "+ WD-DS": 1, "+ WD-JT": 2, "WMSS": 3}
    wide = wide.reset_index().sort_values("row", key=lambda s: s.map(lambda r: order.get(r.split(" (λ")[0], 9)))
    wide = wide.reset_index(drop=True)
    return wide.round(1)


class Table2(ScoreTable):
    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_table2(data.scores, spec["benchmarks"], spec["label_lambda"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return score_cells(labelled_table2(data.scores, spec["label_lambda"]),
                           {"Avg.": [TABLE2_COLUMNS.get(b, b) for b in spec["benchmarks"]]})


TABLE = Table2("table2", "module ablation (pass@1, %)")
