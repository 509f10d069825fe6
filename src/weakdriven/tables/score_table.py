"""Tables of score records (Tables 1, 2 and 10): rows = (backbone, method[, lambda]) under the table's protocol,
averaged over the seeds."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..methods import METHODS, table_run
from .base import CELL_COLUMNS, Needs, Table, record_cells


def score_cells(labelled: pd.DataFrame, averages: dict[str, list[str]], baseline: str | None = None) -> pd.DataFrame:
    """The records behind a score table's cells (``Table.cells``): ``labelled`` holds the score records with their
    (group, row, column); ``averages`` maps an average column to the benchmark columns it averages; with a
    ``baseline`` row label, every other row's "<average> Δ" is its average minus its group's baseline row's, and
    "<benchmark> Δ" its benchmark's (a gain the paper claims per benchmark; the diff's gains.csv, not a table cell)."""
    parts = [record_cells(labelled)]
    gains = {}
    for avg, cols in averages.items():
        part = labelled[labelled["column"].isin(cols)]
        parts.append(record_cells(part.assign(column=avg)))
        gains |= {f"{avg} Δ": cols} | {f"{col} Δ": [col] for col in cols}
    if baseline is not None and (labelled["row"] == baseline).any():
        for gain, cols in gains.items():
            part = labelled[labelled["column"].isin(cols)]
            mine = part[part["row"] != baseline]
            base = part[part["row"] == baseline].drop(columns="row").merge(
                mine[["group", "row"]].drop_duplicates(), on="group")
            parts += [record_cells(mine.assign(column=gain)), record_cells(base.assign(column=gain), side="baseline")]
    return pd.concat(parts, ignore_index=True)[CELL_COLUMNS]


class ScoreTable(Table):
    schema = "score_table"

    def needs(self, exp) -> Needs:
        spec = exp.tables[self.name]
        cells = []
        for backbone in spec.backbones:
            for seed in exp.seeds:
                for method in spec.methods:
                    lambdas = spec.lambdas if METHODS[method].uses_lambda else (None,)
                    cells += [(backbone, seed, table_run(exp, method, lam), bench, spec.protocol)
                              for lam in lambdas for bench in spec.benchmarks]
        return Needs(scores=tuple(cells))

    def spec(self, exp) -> dict[str, Any]:
        spec = exp.tables[self.name]
        return {"benchmarks": list(spec.benchmarks), "label_lambda": len(spec.lambdas) > 1}
