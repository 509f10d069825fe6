"""Tables of score records (Tables 1, 2 and 10): rows = (backbone, method[, lambda]) under the table's protocol,
averaged over the seeds."""

from __future__ import annotations

from typing import Any

from ..methods import METHODS, table_run
from .base import Needs, Table


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
