"""Table 12 (App. E.2): the rows of each training domain's set, from the data-preparation summaries (each holds its
counts per reason, its sources and its inputs' sha256, which the table's provenance cites)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .. import paths
from .base import Inputs, Needs, Table, exact_cells

DOMAINS = {"math": "Math", "code": "Code", "logic": "Logic"}  # the paper's row labels


class DataTable(Table):
    schema = "data_table"

    def check(self, raw: dict[str, Any]) -> str | None:
        if "logic_data" not in raw or "code_data" not in raw:
            return (f"config key 'tables.{self.name}': Table 12 counts the three training sets; configure "
                    "'code_data' and 'logic_data' too")
        return None

    def needs(self, exp) -> Needs:
        return Needs(files=tuple(paths.data_summary(exp.name, domain) for domain in DOMAINS))

    def spec(self, exp) -> dict[str, Any]:
        return {}

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        rows = []
        for path in data.files:
            summary = json.loads(open(path).read())
            domain = summary.get("domain")
            if domain not in DOMAINS or not isinstance(summary.get("kept"), int):
                raise ValueError(f"{path}: not a training-set summary (needs 'domain' in {list(DOMAINS)} and an "
                                 "integer 'kept')")
            # the rows the runs train on: a math set cut by train_data.max_rows writes fewer than it kept
            rows.append({"group": "", "row": DOMAINS[domain], "#Samples": summary.get("written", summary["kept"])})
        order = list(DOMAINS.values())
        return pd.DataFrame(rows).sort_values("row", key=lambda s: s.map(order.index)).reset_index(drop=True)

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """Counts: the verdict says whether the paper's count and the prepared set's are the same."""
        return exact_cells(self.build(data, spec), ["#Samples"])


TABLE = DataTable("table12", "training data across the three domains")
