"""Is a reported number reproduced? A 95 % interval for every measured cell and a verdict against the paper.

A table's builder says which score records each of its cells comes from (``Table.cells``: one row per record and cell,
``side`` = measured or baseline, ``scale`` = 100 for percent cells). From those records:

* a **benchmark cell** (one benchmark, one seed): the interval of a proportion of ``n`` problems, Wilson's score
  interval or Clopper-Pearson's ("beta"), from statsmodels (:func:`proportion_interval`);
* a benchmark cell over **several training runs** (seeds or replicates): the proportion's interval of their mean
  (the problems, which every run shares: it does not shrink with S) widened in quadrature by the runs' spread
  t·s/sqrt(S), Student's t with S − 1 degrees of freedom (:func:`seeds_interval`);
* an **average over benchmarks** (Math Avg.): each benchmark's problem variance read from its proportion interval's
  width, the benchmarks' problems independent, plus the spread of each run's own average over the benchmarks (one
  seed moves every benchmark together) (:func:`average_interval`);
* a **gain over a baseline row** (Math Avg. Δ: method − SFT on the same backbone): a paired bootstrap over the
  problems of each benchmark (stratified by benchmark; with several seeds a problem's outcome is its mean over the
  seeds), scipy's ``bootstrap``, widened by the spread of the seeds' own gains (:func:`gain_interval`); for one
  benchmark and one run a side the exact McNemar test of the paired outcomes (statsmodels) says whether the gain is
  significant (:func:`mcnemar_pvalue`);
* a **pass@k cell** (``statistic`` "pass@<k>", Table 10): the percentile bootstrap over problems of the mean of the
  per-problem unbiased estimates 1 − C(n − c, k)/C(n, k) (each problem's mean over the seeds), scipy's ``bootstrap``
  (:func:`pass_at_k_interval`): the problems are the sampling unit, the n samples per problem only sharpen each
  problem's estimate;
* an **exact cell** (``statistic`` "exact": a count, Table 12): no sampling error, the interval is the measured value
  itself, so the verdict says whether the two numbers agree;
* a **logit statistic** (``statistic`` "logit <mean|max|min> <how>", Tables 6 and 7): the percentile bootstrap over
  the diagnostic examples (each example's positions resampled together; a mean is Σ sums / Σ positions, z_max and
  z_min the extreme of the examples' extremes), paired across the models of a Δ or % column, which see the same
  examples (:func:`logit_interval`).

Table 11's wall-clock minutes (they depend on the hardware, no sampling model) carry no interval: "no interval". A
cell whose statistic is "not comparable: <why>" measures another quantity than the paper's under this config (Figure
4's step counts at another batch size or without dedup): the diff marks it "not comparable", with the reason.

The verdict is ``reproduced`` when the reported value lies inside the measured interval (widened by the half unit of
the last digit the paper prints: 0.05 for 71.4, 0.0005 for 0.658; twice that for a printed gain, the difference of
two rounded values), ``not reproduced`` otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from ..methods.equations import pass_at_k
from .base import NOT_COMPARABLE
from .diagnostics import combine

LEVEL = 0.95
INTERVALS = ("wilson", "beta")  # statistics.interval: Wilson score or Clopper-Pearson (exact Beta) for one run
ROUNDING = 0.05                 # one printed decimal: the value stands for +- 0.05 (rounding() in general)
BOOTSTRAP_RESAMPLES = 2000
CELL = ["group", "row", "column"]
# what a cell's records estimate (Table.cells' ``statistic``)
STATISTICS = ("accuracy", "pass@<k>", "exact", "logit <mean|max|min> <value|difference|relative|relative_abs>",
              f"{NOT_COMPARABLE}: <why>")


def z_value(level: float = LEVEL) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def proportion_interval(correct: float, n: int, method: str = "wilson", level: float = LEVEL) -> tuple[float, float]:
    """The interval of a proportion ``correct`` / ``n`` (``correct`` may be fractional: a mean over samples per
    problem counts problems, not samples)."""
    if method not in INTERVALS:
        raise ValueError(f"interval method {method!r}: expected one of {INTERVALS}")
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"a proportion needs 0 <= correct <= n and n > 0 (got {correct}/{n})")
    lo, hi = proportion_confint(correct, n, alpha=1 - level, method=method)
    return float(lo), float(hi)


def seed_half_width(values: Sequence[float], level: float = LEVEL) -> float:
    """The half-width t·s/sqrt(S) of the mean of S training runs' values (Student's t, S − 1 degrees of freedom: the
    spread is estimated from the runs themselves); 0 for one run."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return 0.0
    return float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def widen(point: float, interval: tuple[float, float], half: float) -> tuple[float, float]:
    """``interval`` around ``point`` widened by a second, independent half-width: each side in quadrature."""
    lo, hi = interval
    return point - math.hypot(point - lo, half), point + math.hypot(hi - point, half)


def seeds_interval(accuracies: Sequence[float], n: int, method: str = "wilson",
                   level: float = LEVEL) -> tuple[float, float]:
    """The interval of the mean accuracy (fractions) of S training runs on the same ``n`` problems: the proportion's
    interval of the mean (the problems, which every run shares: it does not shrink with S, and stays open at 0 and 1)
    widened in quadrature by the runs' spread t·s/sqrt(S); one run: the proportion's interval itself."""
    p = float(np.mean(accuracies))
    lo, hi = widen(p, proportion_interval(p * n, n, method, level), seed_half_width(accuracies, level))
    return max(0.0, lo), min(1.0, hi)


def average_interval(runs: Sequence[Sequence[float]], sizes: Sequence[int], method: str = "wilson",
                     level: float = LEVEL) -> tuple[float, float]:
    """The interval of the mean over B benchmarks of the mean accuracy of S training runs; ``runs[s][b]`` = run s's
    accuracy on benchmark b of ``sizes[b]`` problems. The problems' part: each benchmark's variance read from its
    proportion interval's width (positive at 0 and 1), the benchmarks' problems independent, Σ var_b / B². The runs'
    part: the spread of each run's own average over the benchmarks (a run good on one benchmark tends to be good on
    all), t·s/sqrt(S). The two in quadrature."""
    acc = np.asarray(runs, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != len(sizes) or acc.size == 0:
        raise ValueError(f"an average needs every run's accuracy on each of the {len(sizes)} benchmarks")
    means, z = acc.mean(axis=0), z_value(level)
    var = sum(((hi - lo) / (2 * z)) ** 2 for lo, hi in
              (proportion_interval(m * n, n, method, level) for m, n in zip(means, sizes, strict=True)))
    mean = float(means.mean())
    half = math.hypot(z * math.sqrt(var) / len(sizes), seed_half_width(acc.mean(axis=1), level))
    return max(0.0, mean - half), min(1.0, mean + half)


def mcnemar_pvalue(measured: Sequence[float], baseline: Sequence[float]) -> float:
    """The exact McNemar test of paired binary outcomes per problem (1 = right): only the discordant problems count."""
    m, b = np.asarray(measured, dtype=float), np.asarray(baseline, dtype=float)
    if m.shape != b.shape or not np.isin(m, (0, 1)).all() or not np.isin(b, (0, 1)).all():
        raise ValueError("McNemar needs paired 0/1 outcomes of the same problems")
    table = [[int(((m == 1) & (b == 1)).sum()), int(((m == 1) & (b == 0)).sum())],
             [int(((m == 0) & (b == 1)).sum()), int(((m == 0) & (b == 0)).sum())]]
    return float(mcnemar(table, exact=True).pvalue)


def bootstrap_interval(strata: Sequence[Sequence[float]], level: float = LEVEL, seed: int = 0,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean over strata of each stratum's mean, the values of each stratum
    resampled on their own (scipy.stats.bootstrap, unpaired samples = strata)."""
    samples = [np.asarray(d, dtype=float) for d in strata]
    if any(len(d) == 0 for d in samples):
        raise ValueError("a stratum without values has no mean")
    # a one-value stratum has no spread to resample (scipy needs two observations): its mean is fixed
    samples = [np.repeat(d, 2) if len(d) == 1 else d for d in samples]
    if all(np.ptp(d) == 0 for d in samples):  # every value of each stratum the same: the mean is exact
        value = float(np.mean([d[0] for d in samples]))
        return value, value

    def statistic(*ds, axis=-1):
        return np.mean([np.mean(d, axis=axis) for d in ds], axis=0)

    result = stats.bootstrap(samples, statistic, n_resamples=resamples, confidence_level=level, method="percentile",
                             paired=False, vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def gain_interval(differences: Sequence[Sequence[float]], run_gains: Sequence[float] = (), level: float = LEVEL,
                  seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The interval of the mean over benchmarks of the mean per-problem difference (method − baseline, fractions):
    the problems of each benchmark resampled on their own (the pairing is inside each difference), widened in
    quadrature by the spread of ``run_gains`` (each training seed's gain over the baseline of the same seed,
    t·s/sqrt(S)) when there are several."""
    if any(len(d) == 0 for d in differences):
        raise ValueError("a benchmark without problems has no gain")
    point = float(np.mean([np.mean(d) for d in differences]))
    return widen(point, bootstrap_interval(differences, level, seed, resamples), seed_half_width(run_gains, level))


def pass_at_k_interval(counts: Sequence[Sequence[int]], n: int, k: int, level: float = LEVEL, seed: int = 0,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The interval of pass@k (fraction) of one benchmark from ``counts[s][i]``, the right samples of problem i out of
    ``n`` in seed s: each problem's unbiased estimate averaged over the seeds, bootstrapped over problems."""
    per_seed = np.array([[pass_at_k(n, int(c), k) for c in seed_counts] for seed_counts in counts], dtype=float)
    if per_seed.ndim != 2 or per_seed.shape[1] == 0:
        raise ValueError("pass@k needs the same problems' counts in every seed")
    return bootstrap_interval([per_seed.mean(axis=0)], level, seed, resamples)


def rounding(decimals: int, gain: bool = False) -> float:
    """What a printed value stands for: +- half a unit of its last printed digit (0.05 for 71.4, 0.0005 for 0.658,
    0.5 for 111657); a printed gain is the difference of two rounded values: twice that."""
    return (2 if gain else 1) * 0.5 * 10.0 ** -decimals


def verdict(reported: float, interval: tuple[float, float], rounding: float = ROUNDING) -> str:
    lo, hi = interval
    slack = rounding + 1e-9  # 4.8 + 0.1 < 4.9 in binary floating point
    return "reproduced" if lo - slack <= reported <= hi + slack else "not reproduced"


# ---- from a table's cells to its intervals ------------------------------------------------------------------------
def outcomes_of(record: pd.Series) -> dict[str, float] | None:
    """A score record's per-problem outcome (fraction of its samples right), or None if it has none."""
    raw = record.get("outcomes")
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return None
    counts = json.loads(raw) if isinstance(raw, str) else raw
    per = int(record.get("samples_per_prompt", 1) or 1)
    return {pid: c / per for pid, c in counts.items()}


def _problem_means(records: pd.DataFrame) -> dict[str, float] | None:
    """Each problem's outcome averaged over the seeds' records of one benchmark; None if any record lacks outcomes."""
    per_seed = [outcomes_of(r) for _, r in records.iterrows()]
    if any(o is None for o in per_seed):
        return None
    ids = set(per_seed[0])
    if any(set(o) != ids for o in per_seed):
        raise ValueError(f"records of {records['benchmark'].iloc[0]} score different problems")
    return {pid: float(np.mean([o[pid] for o in per_seed])) for pid in ids}


def logit_interval(measured: dict, baseline: dict | None, agg: str, how: str, level: float = LEVEL, seed: int = 0,
                   resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The interval of a Table 6/7 cell from each example's share (``{example: [sum, positions]}`` for a mean over
    positions, ``{example: extreme}`` for z_max / z_min) of the column's model and, for a Δ or % column, of its
    baseline model on the same examples: a paired percentile bootstrap over the examples (scipy.stats.bootstrap)."""
    ids = sorted(measured)
    if baseline is not None and sorted(baseline) != ids:
        raise ValueError("a logit statistic's two models were measured on different examples")

    def arrays(parts: dict) -> list[np.ndarray]:
        if agg == "mean":
            return [np.array([parts[i][0] for i in ids], float), np.array([parts[i][1] for i in ids], float)]
        return [np.array([parts[i] for i in ids], float)]

    data = arrays(measured) + (arrays(baseline) if baseline is not None else [])
    width = 2 if agg == "mean" else 1

    def value(parts, axis):
        if agg == "mean":
            return parts[0].sum(axis=axis) / parts[1].sum(axis=axis)
        return parts[0].max(axis=axis) if agg == "max" else parts[0].min(axis=axis)

    def statistic(*parts, axis=-1):
        return combine(value(parts[:width], axis), value(parts[width:], axis) if baseline is not None else None, how)

    if len(ids) < 2:  # one example: nothing to resample
        point = float(statistic(*data))
        return point, point
    result = stats.bootstrap(data, statistic, n_resamples=resamples, confidence_level=level, method="percentile",
                             paired=True, vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _pass_at_k_cell(measured: pd.DataFrame, k: int) -> tuple[float, float] | None:
    """pass@k interval of one benchmark's records (its seeds); None if a record has no per-problem outcomes."""
    if measured["benchmark"].nunique() != 1:
        raise ValueError(f"a pass@{k} cell is one benchmark's, not {sorted(set(measured.benchmark))}")
    raw = [r.get("outcomes") for _, r in measured.iterrows()]
    if any(not isinstance(o, (str, dict)) or o == "" for o in raw):
        return None
    counts = [json.loads(o) if isinstance(o, str) else o for o in raw]
    ids = sorted(counts[0])
    if any(sorted(c) != ids for c in counts):
        raise ValueError(f"records of {measured['benchmark'].iloc[0]} score different problems")
    sizes = set(measured["samples_per_prompt"].astype(int))
    if len(sizes) != 1:
        raise ValueError(f"pass@{k} cell: records with different samples per problem {sorted(sizes)}")
    return pass_at_k_interval([[c[p] for p in ids] for c in counts], sizes.pop(), k)


def _runs_by_benchmark(cell: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The accuracy of every training run (run, seed: a replicate is a run of its own) on every benchmark of a cell,
    one row per training run; an error naming the cell if a run lacks a benchmark or has it twice."""
    keys = ["run", "seed", "benchmark", "accuracy"]
    if records[keys].isna().any().any():  # pivot_table and groupby would drop such a record silently
        raise ValueError(f"cell {cell[CELL].iloc[0].tolist()}: a record without {keys}")
    counts = records.groupby(["run", "seed", "benchmark"]).size()
    wide = records.pivot_table(index=["run", "seed"], columns="benchmark", values="accuracy", aggfunc="mean")
    if (counts > 1).any() or wide.isna().any().any():
        raise ValueError(f"cell {cell[CELL].iloc[0].tolist()}: every training run needs one record of each of its "
                         f"benchmarks {sorted(set(records.benchmark))}")
    return wide.sort_index(axis=1)


def _seed_gains(cell: pd.DataFrame, measured: pd.DataFrame, baseline: pd.DataFrame) -> list[float]:
    """Each training seed's gain of a gain cell: its average over the benchmarks minus the baseline's of the same seed
    (the method's run of seed s starts from the M1 of seed s, as the baseline's does)."""
    mine, base = (_runs_by_benchmark(cell, side).droplevel("run") for side in (measured, baseline))
    if sorted(mine.index) != sorted(base.index) or not mine.index.is_unique:
        raise ValueError(f"gain cell {cell[CELL].iloc[0].tolist()}: the method's seeds {sorted(mine.index)} and the "
                         f"baseline's {sorted(base.index)} are not one run each of the same seeds")
    return list((mine.mean(axis=1) - base.loc[mine.index].mean(axis=1)).to_numpy())


def cell_interval(cell: pd.DataFrame, method: str = "wilson") -> dict:
    """The interval (in the cell's unit), and for a gain its McNemar p-value, of one table cell from its records."""
    scale = float(cell["scale"].iloc[0])
    measured, baseline = cell[cell.side == "measured"], cell[cell.side == "baseline"]
    out: dict = {"interval_low": np.nan, "interval_high": np.nan, "p_value": np.nan, "interval_method": ""}
    statistic = str(cell["statistic"].iloc[0]) if "statistic" in cell else "accuracy"
    if statistic == "exact":  # the diff takes the measured value as its own interval
        out["interval_method"] = "exact"
        return out
    if statistic.startswith(NOT_COMPARABLE):  # another quantity than the paper's under this config: the diff says why
        out["interval_method"] = statistic
        return out
    if statistic.startswith("pass@"):
        k = int(statistic.removeprefix("pass@"))
        span = _pass_at_k_cell(measured, k)
        if span is None:
            out["interval_method"] = "none: score records without per-problem outcomes"
            return out
        out.update(interval_low=span[0] * scale, interval_high=span[1] * scale,
                   interval_method="bootstrap over problems")
        return out
    if statistic.startswith("logit "):
        _, agg, how = statistic.split()
        parts = [json.loads(c["outcomes"].iloc[0]) if len(c) == 1 else None for c in (measured, baseline)]
        if parts[0] is None or (len(baseline) and parts[1] is None):
            raise ValueError(f"cell {cell[CELL].iloc[0].tolist()}: a logit statistic is one model's (and its "
                             "baseline's) examples")
        lo, hi = logit_interval(parts[0], parts[1], agg, how)
        out.update(interval_low=lo * scale, interval_high=hi * scale, interval_method="bootstrap over examples")
        return out
    if statistic != "accuracy":
        raise ValueError(f"cell {cell[CELL].iloc[0].tolist()}: unknown statistic {statistic!r}; expected one of "
                         f"{STATISTICS}")
    if len(baseline):
        missing = sorted(set(measured.benchmark) ^ set(baseline.benchmark))
        if missing:
            raise ValueError(f"gain cell {cell[CELL].iloc[0].tolist()}: benchmarks {missing} are scored on one side "
                             "only")
        diffs = []
        for bench, recs in measured.groupby("benchmark", sort=True):
            mine, base = _problem_means(recs), _problem_means(baseline[baseline.benchmark == bench])
            if mine is None or base is None:
                out["interval_method"] = "none: score records without per-problem outcomes"
                return out
            if set(mine) != set(base):
                raise ValueError(f"{bench}: the method's and the baseline's records score different problems")
            diffs.append([mine[p] - base[p] for p in sorted(mine)])
        lo, hi = gain_interval(diffs, _seed_gains(cell, measured, baseline))
        out.update(interval_low=lo * scale, interval_high=hi * scale, interval_method="paired bootstrap")
        one_run = all(len(side) == 1 and side.samples_per_prompt.max() == 1 for side in (measured, baseline))
        if one_run:  # one benchmark, one record a side, paired 0/1 outcomes: the exact McNemar test
            mine, base = _problem_means(measured), _problem_means(baseline)
            ids = sorted(mine)
            out["p_value"] = mcnemar_pvalue([mine[p] for p in ids], [base[p] for p in ids])
        return out
    runs = _runs_by_benchmark(cell, measured)
    sizes = [int(n) for n in measured.groupby("benchmark", sort=True)["problems"].first()]
    if runs.shape == (1, 1):
        acc, n = float(runs.iloc[0, 0]), sizes[0]
        correct = acc * n
        if (measured["samples_per_prompt"].fillna(1) == 1).all():  # greedy: a whole number of problems
            correct = float(round(correct))
        lo, hi = proportion_interval(correct, n, method)
        out["interval_method"] = method
    elif runs.shape[1] == 1:
        lo, hi = seeds_interval(list(runs.iloc[:, 0]), sizes[0], method)
        out["interval_method"] = "runs + problems"
    else:
        lo, hi = average_interval(runs.to_numpy().tolist(), sizes, method)
        out["interval_method"] = "average of benchmarks"
    out.update(interval_low=lo * scale, interval_high=hi * scale)
    return out


def intervals(cells: pd.DataFrame, method: str = "wilson") -> pd.DataFrame:
    """One row per table cell (group, row, column): its interval, interval method and (gains) McNemar p-value."""
    rows = [{**dict(zip(CELL, key, strict=True)), **cell_interval(cell, method)}
            for key, cell in cells.groupby(CELL, sort=False)]
    return pd.DataFrame(rows, columns=[*CELL, "interval_low", "interval_high", "interval_method", "p_value"])
