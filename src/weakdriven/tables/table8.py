"""Table 8 (App. B.7): the WD-DS mixture shares (α, β, γ) of WMSS swept on two backbones, pass@1 (%).

Each named configuration is a run of its own whose name carries the shares (``wmss_lam0.5_abg0.2-0.7-0.1``): it reuses
SFT, M1 and the pair's entropies and makes its own WD-DS selection. The configuration equal to ``wmss.alpha/beta/gamma``
is Table 1's WMSS run itself (one measurement per model). With ``replicates`` > 1 each cell is the mean of that many
training runs (``_r2``, ``_r3``: their own training and selection seeds): the caption says greedy pass@1, but the
printed AIME values (10.7, 10.3, 9.7) lie on a 1/300 grid, the mean of ten runs or samples (README: ambiguities).
The α/β/γ columns echo each configuration's shares (group ""), as the paper prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..methods import METHODS, Run
from .base import Inputs, Needs, Table, exact_cells
from .paper import BACKBONE_LABELS
from .score_table import score_cells

TABLE8_COLUMNS = {"AIME2025": "AIME 2025", "MATH500": "MATH 500"}  # as Table 8 prints them
SHARES = ("α", "β", "γ")


@dataclass(frozen=True)
class MixSweep:
    backbones: tuple[str, ...]
    method: str
    benchmarks: tuple[str, ...]
    configs: dict[str, tuple[float, float, float]]  # row label -> (alpha, beta, gamma)
    replicates: int
    protocol: str


def mix_sweep(exp, name: str = "table8") -> MixSweep:
    raw = exp.raw["tables"][name]
    return MixSweep(tuple(raw["backbones"]), raw["method"], tuple(raw["benchmarks"]),
                    {label: tuple(float(v) for v in shares) for label, shares in raw["configs"].items()},
                    raw.get("replicates", 1), raw.get("protocol", exp.evaluation.protocol))


def mix_run(exp, method: str, shares: tuple[float, float, float], replicate: int = 1) -> str:
    """The run of ``method`` with WD-DS shares ``shares``: the config's own shares are the plain run (no coordinate)."""
    m = METHODS[method]
    default = (exp.wmss.alpha, exp.wmss.beta, exp.wmss.gamma)
    mix = None if all(abs(a - b) < 1e-9 for a, b in zip(shares, default, strict=True)) else shares
    return Run(m, exp.wmss.lam if m.uses_lambda else None, exp.wmss.iterations if m.iterative else 1, mix=mix,
               replicate=replicate).name


class Table8(Table):
    schema = "mix_sweep_table"

    def check(self, raw: dict[str, Any]) -> str | None:
        spec = raw["tables"][self.name]
        if METHODS[spec["method"]].data != "wdds":
            return (f"config key 'tables.{self.name}.method': {spec['method']!r} does not train on a WD-DS selection; "
                    "its shares change nothing")
        for label, shares in spec["configs"].items():
            if abs(sum(shares) - 1.0) > 1e-6:
                return (f"config key 'tables.{self.name}.configs.{label}': the shares {shares} of WD-DS's three terms "
                        f"must sum to 1 (they sum to {sum(shares):g})")
        return None

    def needs(self, exp) -> Needs:
        spec = mix_sweep(exp, self.name)
        return Needs(scores=tuple(
            (b, s, mix_run(exp, spec.method, shares, r), bench, spec.protocol)
            for b in spec.backbones for s in exp.seeds for shares in spec.configs.values()
            for r in range(1, spec.replicates + 1) for bench in spec.benchmarks))

    def spec(self, exp) -> dict[str, Any]:
        spec = mix_sweep(exp, self.name)
        runs = {mix_run(exp, spec.method, shares, r): label for label, shares in spec.configs.items()
                for r in range(1, spec.replicates + 1)}
        # configurations as [label, shares] pairs: a stage's JSON sorts mapping keys, the table keeps the config's order
        return {"benchmarks": list(spec.benchmarks), "configs": [[k, list(v)] for k, v in spec.configs.items()],
                "runs": runs}

    @staticmethod
    def labelled(scores: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
        """Score records with their cell: group = backbone, row = the configuration, column = benchmark."""
        return scores.assign(group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                             row=scores["run"].map(spec["runs"]),
                             column=scores["benchmark"].map(lambda b: TABLE8_COLUMNS.get(b, b)))

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        df = self.labelled(data.scores, spec)
        columns = [TABLE8_COLUMNS.get(b, b) for b in spec["benchmarks"]]
        wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
        wide = wide.reindex(columns=columns).round(1).reset_index()
        order = [label for label, _ in spec["configs"]]
        shares = pd.DataFrame([{"group": "", "row": label, **dict(zip(SHARES, values, strict=True))}
                               for label, values in spec["configs"]])
        out = pd.concat([shares, wide], ignore_index=True)[["group", "row", *SHARES, *columns]]
        key = out["row"].map(order.index) * 1000 + (out["group"] != "").astype(int)
        return out.assign(_k=key).sort_values(["_k", "group"]).drop(columns="_k").reset_index(drop=True)

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """The configurations side by side, one panel per backbone and benchmark (the sweep's bars, labelled with
        their shares); the paper's values as open markers."""
        values = [c for c in wide.columns if c not in ("group", "row")]  # a read-back CSV: "" where no value
        wide = wide.assign(**{c: pd.to_numeric(wide[c], errors="coerce") for c in values})
        scores = wide[wide["group"] != ""]
        shares = wide[wide["group"] == ""].set_index("row")
        benchmarks = [c for c in wide.columns if c not in ("group", "row", *SHARES)]
        panels = [(g, b) for g in dict.fromkeys(scores["group"]) for b in benchmarks
                  if scores.loc[scores["group"] == g, b].notna().any()]
        if not panels:
            return False
        order = list(dict.fromkeys(wide["row"]))
        ticks = [f"{r}\n" + "/".join(f"{shares.loc[r, s]:g}" for s in SHARES) if r in shares.index else r
                 for r in order]
        for ax, (group, bench) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
            block = scores[scores["group"] == group].set_index("row").reindex(order)
            x = list(range(len(order)))
            ax.bar(x, block[bench], color="#8fb3d9", label="measured")
            paper = reported[(reported["group"] == group) & (reported["column"] == bench)].set_index("row")
            ax.plot(x, paper["value"].reindex(order), ls="none", marker="s", mfc="none", color="black",
                    label="paper")
            ax.set_xticks(x, ticks, rotation=45, ha="right", fontsize=6)
            ax.set_title(f"{group} {bench}", fontsize=9)
            ax.set_ylabel("pass@1 (%)")
            ax.legend(fontsize=7)
        return True

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        # the α/β/γ columns echo each configuration's shares: settings, exact
        shares = exact_cells(self.build(data, spec), ["α", "β", "γ"])
        return pd.concat([score_cells(self.labelled(data.scores, spec), {}), shares], ignore_index=True)


TABLE = Table8("table8", "sensitivity to the WD-DS shares α, β, γ (pass@1, %)")
