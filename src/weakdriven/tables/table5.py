"""Table 5 (App. B.3): the logic benchmarks LogiQA 2.0 and ReClor, pass@1 (%) under greedy decoding, on the four
backbones, the six method rows of Table 1; every cell is scored on the run trained on the logic set (per-domain runs),
and "Avg." is the mean of the two columns. The paper prints no gains over SFT here."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .base import Inputs
from .table1 import Table1, build_table1, table1_cells


class Table5(Table1):
    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        wide = build_table1(data.scores, spec["benchmarks"], spec["label_lambda"])
        return wide.drop(columns=[c for c in wide.columns if c.endswith(" Δ")]).rename(columns={"Logic Avg.": "Avg."})

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        cells = table1_cells(data.scores, spec["benchmarks"], spec["label_lambda"])
        return cells[~cells["column"].str.endswith(" Δ")].replace({"column": {"Logic Avg.": "Avg."}})


TABLE = Table5("table5", "results on the logic benchmarks (pass@1, %)")
