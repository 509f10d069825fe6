"""The table registry: one module per paper artifact (a :class:`~weakdriven.tables.base.Table`) and one line below.

The order is the order of the diff and the report. Reading the paper's numbers is in ``paper.py``, reading and
checking the measured inputs in ``scores.py``, the measured-vs-reported diff in ``diff.py``.
"""

from __future__ import annotations

from . import figure3, figure4, figure5, table1, table2, table3, table6, table7, table10
from .base import Needs, Table
from .paper import REPORTED_TABLES, average_consistency, reported_numbers

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        table1.TABLE,
        table2.TABLE,
        table10.TABLE,
        table3.TABLE,
        figure4.TABLE,
        figure3.TABLE,
        figure5.TABLE,
        table6.TABLE,
        table7.TABLE,
    )
}

__all__ = ["REPORTED_TABLES", "TABLES", "Needs", "Table", "average_consistency", "configured", "reported_numbers"]


def configured(exp) -> list[Table]:
    """The tables the experiment builds, in registry order."""
    return [t for t in TABLES.values() if t.configured(exp)]
