"""Table 10 (App. B.9): pass@k (%) from n samples per problem, one block per benchmark, one column per method."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..methods import METHODS
from .base import Inputs, record_cells, row_labels
from .score_table import ScoreTable

TABLE10_GROUPS = {"AIME2025": "AIME 2025"}  # Table 10 prints "AIME 2025"


def build_table10(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 10 layout (App. B.9): one block per benchmark, one row per k, one column per method: the unbiased
    pass@k (%) from the score records' ``pass_at_k`` (n samples per problem, mean over seeds)."""
    if scores["backbone"].nunique() > 1:
        raise ValueError(f"Table 10 shows one backbone; its score files hold {sorted(set(scores.backbone))}")
    records = []
    for row, label in zip(scores.itertuples(index=False), row_labels(scores, {}, label_lambda), strict=True):
        if not isinstance(row.pass_at_k, dict) or not row.pass_at_k:
            raise ValueError(f"score record of {row.run} on {row.benchmark} has no pass@k: its protocol "
                             f"{row.protocol!r} draws one sample per problem")
        records += [{"group": TABLE10_GROUPS.get(row.benchmark, row.benchmark), "bench": row.benchmark,
                     "row": int(k), "column": label, "method": row.method, "lam": row.lam, "value": 100.0 * v}
                    for k, v in row.pass_at_k.items()]
    df = pd.DataFrame(records)
    wide = df.pivot_table(index=["bench", "group", "row"], columns="column", values="value", aggfunc="mean")
    wide = wide.reset_index()
    wide["_b"] = wide["bench"].map({b: i for i, b in enumerate(benchmarks)})
    wide = wide.sort_values(["_b", "row"]).drop(columns=["_b", "bench"]).reset_index(drop=True)
    wide["row"] = wide["row"].astype(str)
    wide.columns.name = None
    # method columns in the registry's order (SFT, the baselines, WMSS), as Table 1's rows
    rank = {label: (list(METHODS).index(m), lam) for label, m, lam in
            zip(df["column"], df["method"], df["lam"].fillna(-1.0), strict=True)}
    methods = sorted((c for c in wide.columns if c in rank), key=rank.__getitem__)
    return wide[["group", "row", *methods]].round(2)


class Table10(ScoreTable):
    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """pass@k against k, one panel per benchmark, a line per method; the paper's values as open markers."""
        groups = list(dict.fromkeys(wide["group"]))
        axes = fig.subplots(1, len(groups), squeeze=False)[0]
        for ax, group in zip(axes, groups, strict=True):
            block = wide[wide.group == group]
            ks = block["row"].astype(int)
            for method in [c for c in wide.columns if c not in ("group", "row")]:
                (line,) = ax.plot(ks, block[method], marker="o", label=f"{method} (measured)")
                paper = reported[(reported.group == group) & (reported.column == method)]
                if len(paper):
                    ax.plot(paper["row"].astype(int), paper["value"], ls=":", marker="s", mfc="none",
                            color=line.get_color(), label=f"{method} (paper)")
            ax.set_xscale("log", base=2)
            ax.set_title(group)
            ax.set_xlabel("k")
            ax.set_ylabel("pass@k (%)")
            ax.legend(fontsize=7)
        return True

    def check(self, raw: dict[str, Any]) -> str | None:
        protocol = raw["tables"][self.name].get("protocol", raw["evaluation"]["protocol"])
        if raw["evaluation"]["protocols"][protocol]["n"] < 2:  # defined: config.check_protocols ran
            return (f"config key 'tables.{self.name}.protocol': {protocol!r} draws one sample per problem; pass@k "
                    "needs a sampling protocol (the paper's: n = 64 at T = 0.7, top-p 0.95)")
        return None

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_table10(data.scores, spec["benchmarks"], spec["label_lambda"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """Each (benchmark, k, method) cell from its records' per-problem counts: pass@k bootstrapped over problems."""
        scores = data.scores
        labels = row_labels(scores, {}, spec["label_lambda"])
        parts = [record_cells(pd.DataFrame([row]).assign(group=TABLE10_GROUPS.get(row["benchmark"], row["benchmark"]),
                                                          row=str(k), column=label), statistic=f"pass@{k}")
                 for (_, row), label in zip(scores.iterrows(), labels, strict=True) for k in row["pass_at_k"]]
        return pd.concat(parts, ignore_index=True)


TABLE = Table10("table10", "pass@k (%)")
