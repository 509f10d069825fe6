"""Every reported number equals the paper: the shipped CSVs against an independent parse of the paper's text."""

import re

import pandas as pd
import pytest
from conftest import PAPER_TEXT

from weakdriven import reported_numbers
from weakdriven.tables import REPORTED_TABLES, average_consistency

pytestmark = pytest.mark.skipif(PAPER_TEXT is None, reason="the paper text (../shared/seeds) is not beside the repo")
NUM = r"-?\d+(?:\.\d+)?"


@pytest.fixture(scope="module")
def lines():
    return PAPER_TEXT.read_text().splitlines()


def after(lines, marker, n, start=0):
    i = next(k for k in range(start, len(lines)) if lines[k].strip().startswith(marker))
    return lines[i + 1 : i + 1 + n]


def split_row(line, labels):
    label = next(lab for lab in labels if line.startswith(lab + " "))
    return label, line[len(label) :].split()


def as_dict(table):
    df = reported_numbers(table)
    return {(g, r, c): v for g, r, c, v in zip(df.group, df.row, df.column, df.value)}


def parse_arrow(tok):
    return -float(tok.split("downarrow")[1]) if "downarrow" in tok else float(tok.split("uparrow")[1])


METHOD_ROWS = ["SFT", "UNDIAL", "NEFTune", "SPIN", "SSB", "WMSS"]


def test_table1(lines):
    got, expected = as_dict("table1"), {}
    cols = ["AIME2025", "MATH500", "AMC23", "AQUA", "GSM8K", "MAWPS", "SVAMP", "Math Avg.", "HE+", "MBPP+", "BCB",
            "LCB", "Code Avg."]
    for group in ("Qwen3-4B-Base", "Qwen3-8B-Base", "Qwen2.5-3B"):
        for line in after(lines, f"{group} as base model.", 6):
            label, toks = split_row(line, METHOD_ROWS)
            arrows = [parse_arrow(t) for t in toks if "arrow" in t]
            values = [float(t) for t in toks if "arrow" not in t]
            expected.update({(group, label, c): v for c, v in zip(cols, values, strict=True)})
            if arrows:
                expected[(group, label, "Math Avg. Δ")], expected[(group, label, "Code Avg. Δ")] = arrows
    assert len(expected) == 18 * 13 + 15 * 2
    assert got == expected


def test_table2_3_and_4(lines):
    rows = after(lines, "Method AIME MATH GSM8K Avg.", 4)
    expected = {}
    for line in rows:
        label, toks = split_row(line, ["Baseline", "+ WD-DS", "+ WD-JT", "WMSS"])
        cols = ["AIME", "MATH", "GSM8K", "Avg."]
        expected.update({("", label, c): float(v) for c, v in zip(cols, toks, strict=True)})
    assert as_dict("table2") == expected

    cols = ["WD-JT only (w/o WD-DS) MATH500", "WD-JT only (w/o WD-DS) GSM8K", "Frozen base MATH500",
            "Frozen base GSM8K"]
    expected = {}
    for line in after(lines, "ck-rel WD-JT only", 5):
        label, *rest = line.split()
        values = [float(v) for v in re.findall(NUM, " ".join(rest))]
        expected.update({("", label, c): v for c, v in zip(cols, values, strict=True)})
    assert as_dict("table3") == expected

    cols = ["MATH500", "AMC23", "AQUA", "GSM8K", "MAWPS", "SVAMP", "Math Avg.", "HE+", "MBPP+", "BCB", "LCB",
            "Code Avg."]
    expected = {}
    for line in after(lines, "MATH500 AMC23 AQUA GSM8K MAWPS SVAMP Avg. HE+", 6):
        label, toks = split_row(line, METHOD_ROWS)
        expected.update({("Gemma-3-4B-PT", label, c): float(v) for c, v in zip(cols, toks, strict=True)})
    assert as_dict("table4") == expected


def test_table5(lines):
    groups = ["Qwen3-4B-Base", "Qwen3-8B-Base", "Qwen2.5-3B", "Gemma-3-4B-PT"]
    expected = {}
    for line in after(lines, "LogiQA2 ReClor Avg. LogiQA2", 6):
        label, toks = split_row(line, METHOD_ROWS)
        for i, v in enumerate(toks):
            expected[(groups[i // 3], label, ["LogiQA2", "ReClor", "Avg."][i % 3])] = float(v)
    assert len(expected) == 72
    assert as_dict("table5") == expected


def test_tables_6_and_7(lines):
    doubled = re.compile(r"(-?\d+\.\d+)(?:\1|\\mathbf\{\1\})")
    pct = re.compile(r"\(([+-]?\d+\.\d)%\)")
    got = as_dict("table6")
    idx = next(i for i, line in enumerate(lines) if line.startswith("Metric SFT WMSS"))
    body = lines[idx + 1 : idx + 5]
    assert len(got) == 12
    for line, row in zip(body, ["Target Strength", "Distractors Mean", "Target-to-Background Gap", "Logit Std."]):
        sft, wmss = (float(v) for v in doubled.findall(line)[:2])
        change = float(pct.search(line).group(1))
        label = next(r for (_, r, _) in got if r.startswith(row))
        assert (got[("", label, "SFT")], got[("", label, "WMSS")], got[("", label, "WMSS vs SFT (%)")]) == (
            sft, wmss, change)

    got = as_dict("table7")
    body = after(lines, "Metric Weak init Strong Pre Strong Post", 8)
    metric_starts = ["Mean logit", "Std", "Centered norm", "Max logit", "Min logit", "L2 norm", "Entropy", "Max prob"]
    assert len(got) == 40
    for line, start in zip(body, metric_starts, strict=True):
        change = float(pct.search(line).group(1))
        values = [float(v) for v in re.findall(r"-?\d+\.\d+", pct.sub("", line))][-4:]
        label = next(r for (_, r, _) in got if r.startswith(start))
        cols = ["Weak init", "Strong Pre", "Strong Post", "Δ"]
        assert [got[("", label, c)] for c in cols] == values
        assert got[("", label, "Δ (%)")] == change


def test_table8(lines):
    expected = {}
    for line in after(lines, "Setup Coefficients Qwen3-4B-Base Qwen2.5-3B", 7)[1:]:
        label, toks = split_row(line, ["Config A", "Config B", "Config C", "Config D", "Config E", "Default"])
        a, b, g, aime4, math4, aime3, math3 = toks
        expected.update({("", label, "α"): float(a), ("", label, "β"): float(b), ("", label, "γ"): float(g),
                         ("Qwen3-4B-Base", label, "AIME 2025"): float(aime4),
                         ("Qwen3-4B-Base", label, "MATH 500"): float(math4),
                         ("Qwen2.5-3B", label, "MATH 500"): float(math3)})
        assert aime3 == "-"  # "the base model produces no correct answer": no value, so no row
    assert as_dict("table8") == expected


def test_table9_and_table10(lines):
    header = next(line for line in lines if line.startswith("0.1 0.2 0.3 0.4 0.42"))
    lams = header.split()
    expected = {}
    for line in after(lines, header, 7):
        label, *vals = line.split()
        expected.update({("", label, lam): float(v) for lam, v in zip(lams, vals, strict=True)})
    assert as_dict("table9") == expected

    expected = {}
    for line in after(lines, "WMSS DPO WMSS DPO WMSS DPO", 6):
        k, *vals = line.split()
        for i, bench in enumerate(["AIME 2025", "AMC23", "MATH500"]):
            expected[(bench, k, "WMSS")], expected[(bench, k, "DPO")] = float(vals[2 * i]), float(vals[2 * i + 1])
    assert as_dict("table10") == expected


def test_table11_table12_and_figure4(lines):
    expected = {}
    for line in after(lines, "Method Total training time Math-Avg", 6):
        label = re.split(r" \\sim| \d", line, maxsplit=1)[0]
        h, m = re.search(r"(\d+)h(?:(\d+)m)?", line).groups()
        expected[("", label, "Total training time (min)")] = 60 * float(h) + float(m or 0)
        deltas = re.findall(r"[+-]?\d+\.\d", line.split(" ", 1)[1])  # display copy, then the LaTeX copy (signed)
        if deltas:
            expected[("", label, "Math-Avg Δ")] = float(deltas[-1])
    assert as_dict("table11") == expected

    expected = {}
    for line in after(lines, "Domain #Samples Source", 3):
        label, count = line.split()[:2]
        expected[("", label, "#Samples")] = float(count.replace(",", ""))
    assert as_dict("table12") == expected

    text = next(line for line in lines if "The w/o WD-DS schedule uses" in line)
    init = re.search(r"=(\d\.\d+)/(\d\.\d+)=", text).groups()
    wo = re.search(r"uses (\d+) steps and reaches (\d\.\d{3})/(\d\.\d{3})", text).groups()
    w = re.search(r"reaches (\d\.\d{3})/(\d\.\d{3})\S* with (\d+) steps, about (\d+)%", text).groups()
    got = as_dict("figure4")
    assert (got[("", "shared initialization", "MATH500")], got[("", "shared initialization", "GSM8K")]) == tuple(
        map(float, init))
    assert [got[("", "w/o WD-DS", c)] for c in ("steps", "MATH500", "GSM8K")] == list(map(float, wo))
    assert [got[("", "w/ WD-DS", c)] for c in ("MATH500", "GSM8K", "steps", "active fraction (%)")] == list(
        map(float, w))


def test_figure5(lines):
    text = next(line for line in lines if "We fix the strong branch to ck-218" in line)
    math500, gsm8k = re.search(r"ck-200 drops to (\d\.\d{3})/(\d\.\d{3})", text).groups()
    assert as_dict("figure5") == {("", "ck-200", "MATH500"): float(math500), ("", "ck-200", "GSM8K"): float(gsm8k)}


def test_every_table_loads_with_source_and_unique_cells():
    for table in REPORTED_TABLES:
        df = reported_numbers(table)
        assert not df.duplicated(["group", "row", "column"]).any(), table
        label = table.replace("table", "Table ").replace("figure", "Figure ")
        assert (df.source == f"arXiv:2602.08222v2 {label}").all()
    with pytest.raises(ValueError, match="table13"):
        reported_numbers("table13")


def test_paper_averages_are_recomputed():
    df = average_consistency()
    assert len(df) == 123
    row = df[(df.group == "Qwen3-4B-Base") & (df.row == "WMSS") & (df.column == "Math Avg.")].iloc[0]
    assert row.recomputed == pytest.approx((20.0 + 71.4 + 50.0 + 67.7 + 88.5 + 96.2 + 90.3) / 7, abs=1e-3)
    assert df.consistent.all()
    assert isinstance(df, pd.DataFrame)
