"""The table registry: one module per paper artifact (a :class:`~weakdriven.tables.base.Table`) and one line below.

The order is the order of the diff and the report. Reading the paper's numbers is in ``paper.py``, reading and
checking the measured inputs in ``scores.py``, the measured-vs-reported diff in ``diff.py``.
"""

from __future__ import annotations

import pandas as pd

from .. import paths
from ..benchmarks import BENCHMARKS
from ..checks import write_atomic
from ..provenance import table_provenance, write_sidecar
from . import (
    figure3,
    figure4,
    figure5,
    table1,
    table2,
    table3,
    table4,
    table5,
    table6,
    table7,
    table8,
    table9,
    table10,
    table11,
    table12,
)
from .base import CELL_COLUMNS, Needs, Table, load_inputs
from .paper import REPORTED_TABLES, average_consistency, reported_numbers

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        table1.TABLE,
        table2.TABLE,
        table4.TABLE,
        table5.TABLE,
        table8.TABLE,
        table9.TABLE,
        table10.TABLE,
        table11.TABLE,
        table3.TABLE,
        figure4.TABLE,
        figure3.TABLE,
        figure5.TABLE,
        table6.TABLE,
        table7.TABLE,
        table12.TABLE,
    )
}

__all__ = ["REPORTED_TABLES", "TABLES", "Needs", "Table", "average_consistency", "configured", "generation_plan",
           "reported_numbers", "table_stage"]


def configured(exp) -> list[Table]:
    """The tables the experiment builds, in registry order."""
    return [t for t in TABLES.values() if t.configured(exp)]


def generation_plan(exp) -> dict[tuple[str, str, str, str, str], tuple[str, ...]]:
    """(backbone, domain, seed, run, protocol) -> the benchmarks the configured tables read of that model (the run of
    that training domain) under that protocol, in registry order: one generation job each. A run's snapshot scores
    count too (their job reads the final model's scores under the default protocol)."""
    cells = set()
    for table in configured(exp):
        needs = table.needs(exp)
        cells |= {(b, str(s), r, bench, p) for b, s, r, bench, p in needs.scores}
        cells |= {(b, str(s), r, bench, exp.evaluation.protocol) for b, s, r, bench in needs.snapshots}
    plan: dict[tuple[str, str, str, str, str], set[str]] = {}
    for b, s, r, bench, p in cells:
        plan.setdefault((b, exp.run_domain(bench), s, r, p), set()).add(bench)
    order = list(BENCHMARKS)
    return {key: tuple(sorted(names, key=order.index)) for key, names in sorted(plan.items())}


def table_stage(stage, files: dict[str, list[str]], out: str) -> None:
    """The ``table`` rule: one registered table (a TableStage) from the files of its needs, with its provenance, and
    beside it the records behind its cells (``<table>.cells.csv``, empty for a table without intervals)."""
    table = TABLES[stage.table]
    data = load_inputs(table, Needs.from_dict(stage.needs), files)
    wide = table.build(data, stage.spec)
    cells = table.cells(data, stage.spec)
    # every input's provenance is read before anything is written: a damaged record fails the job with no output
    provenance = table_provenance([*files.get("snapshots", []), *files.get("scores", []), *files.get("files", [])],
                                  stage.to_json())
    write_atomic(paths.table_cells_of(out), (pd.DataFrame(columns=CELL_COLUMNS) if cells is None else cells)
                 .to_csv(index=False))
    write_atomic(out, wide.to_csv(index=False))
    write_sidecar(out, provenance)
