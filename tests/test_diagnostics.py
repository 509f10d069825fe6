"""Logit statistics of Tables 6/7: hand-computed values, and the paper's own Δ / % columns from its raw values."""

import math

import pytest
import torch

from weakdriven import reported_numbers
from weakdriven.diagnostics import (
    TABLE6_ROWS,
    TABLE7_ROWS,
    aggregate,
    crossover_from_stats,
    position_statistics,
    table6,
    table7,
)


def test_position_statistics_hand_computed():
    z = torch.tensor([[4.0, 0.0, 2.0, -2.0]])  # target 0
    s = {k: float(v[0]) for k, v in position_statistics(z, torch.tensor([0])).items()}
    assert s["target"] == 4.0 and s["distractor_mean"] == 0.0 and s["gap"] == 4.0
    assert s["mean"] == 1.0
    assert s["std"] == pytest.approx(math.sqrt((9 + 1 + 1 + 9) / 4))
    assert s["centered_norm"] == pytest.approx(math.sqrt(20))  # = sqrt(V) * std, Eq. (48)
    assert s["l2_norm"] == pytest.approx(math.sqrt(16 + 4 + 4))
    p = torch.softmax(z.double(), -1)[0]
    assert s["max_prob"] == pytest.approx(float(p[0]))
    assert s["entropy"] == pytest.approx(float(-(p * p.log()).sum()))


def test_aggregate_averages_but_keeps_extremes():
    z = torch.tensor([[1.0, 0.0], [10.0, -5.0]])
    agg = aggregate(position_statistics(z, torch.tensor([0, 0])))
    assert agg["max"] == 10.0 and agg["min"] == -5.0
    assert agg["target"] == pytest.approx(5.5)


def paper_values(table, column):
    df = reported_numbers(table)
    return {r: v for r, c, v in zip(df.row, df.column, df.value) if c == column}


def test_table_formulas_reproduce_the_papers_derived_columns():
    t7 = reported_numbers("table7")
    cols = {c: paper_values("table7", c) for c in ("Weak init", "Strong Pre", "Strong Post")}
    keys = {label: key for key, label in TABLE7_ROWS.items()}
    as_stats = {c: {keys[r]: v for r, v in vals.items()} for c, vals in cols.items()}
    ours = table7(as_stats["Weak init"], as_stats["Strong Pre"], as_stats["Strong Post"]).set_index("row")
    for row, col, value in zip(t7.row, t7.column, t7.value):
        assert ours.loc[row, col] == pytest.approx(value, abs=0.011), (row, col)
    t6 = reported_numbers("table6")
    keys6 = {label: key for key, label in TABLE6_ROWS.items()}
    sft = {keys6[r]: v for r, v in paper_values("table6", "SFT").items()}
    wmss = {keys6[r]: v for r, v in paper_values("table6", "WMSS").items()}
    ours6 = table6(sft, wmss).set_index("row")
    for row, col, value in zip(t6.row, t6.column, t6.value):
        assert ours6.loc[row, col] == pytest.approx(value, abs=0.051), (row, col)
    # Eq. (17) from the paper's Table 7 centered norms
    assert crossover_from_stats(as_stats["Strong Pre"], as_stats["Weak init"]) == pytest.approx(0.490, abs=5e-4)
