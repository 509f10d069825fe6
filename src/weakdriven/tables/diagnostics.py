"""Tables 6 and 7 (App. B.4): the logit statistics the ``logit_stats`` job writes per diagnostics backbone; the
table shows the first diagnostics backbone's (first seed), as the paper shows Qwen3-4B-Base's."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import paths
from .base import Inputs, Needs, Table


class DiagnosticsTable(Table):
    def configured(self, exp) -> bool:
        return bool(exp.diagnostics_backbones)

    def needs(self, exp) -> Needs:
        backbone = exp.diagnostics_backbones[0]
        return Needs(files=(paths.diagnostics(exp.name, backbone, exp.primary_domain, exp.seeds[0],
                                              f"{self.name}.csv"),))

    def spec(self, exp) -> dict[str, Any]:
        return {}

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        (path,) = data.files
        return pd.read_csv(path, keep_default_na=False, dtype={"group": str, "row": str})
