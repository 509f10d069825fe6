"""The report's parts: a table's HTML coloured by its verdicts, the tables' figures, the measured-vs-reported scatter;
and the report itself in headless Chromium."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from conftest import snakemake
from test_verdicts import records

from weakdriven.report import COLOURS, scatter, table_html, table_plot
from weakdriven.tables import TABLES
from weakdriven.tables.base import Inputs
from weakdriven.tables.diff import diff_against_paper

CHROMIUM = shutil.which("chromium")


def built_table1(tmp_path):
    """Table 1 with its cells and diff: SFT's AIME2025 5/30 (the paper's 13.3 inside), MATH500 300/500 (66.2
    outside)."""
    rows = (records("sft", "sft", {"AIME2025": [1] * 5 + [0] * 25, "MATH500": [1] * 300 + [0] * 200})
            + records("wmss", "wmss_lam0.5", {"AIME2025": [1] * 6 + [0] * 24, "MATH500": [1] * 340 + [0] * 160},
                      lam=0.5))
    scores, spec = pd.DataFrame(rows), {"benchmarks": ["AIME2025", "MATH500"], "label_lambda": False}
    wide = TABLES["table1"].build(Inputs(scores=scores), spec)
    diff = diff_against_paper("table1", wide, True, TABLES["table1"].cells(Inputs(scores=scores), spec))
    table, diff_csv = tmp_path / "table1.csv", tmp_path / "table1.diff.csv"
    wide.to_csv(table, index=False)
    diff.to_csv(diff_csv, index=False)
    return table, diff_csv, diff


def test_a_table_renders_each_cell_in_its_verdicts_colour(tmp_path):
    table, diff_csv, diff = built_table1(tmp_path)
    out = tmp_path / "table1.html"
    table_html(str(table), str(diff_csv), str(out))
    page = out.read_text()
    cells = dict(re.findall(r'<td style="background:(#[0-9a-f]{6})" title="([^"]*)">', page))
    by_title = {title: colour for colour, title in re.findall(r'<td style="background:(#[0-9a-f]{6})" title="([^"]*)">',
                                                             page)}
    assert cells
    aime = next(t for t in by_title if t.startswith("reproduced; reported 13.3"))
    assert by_title[aime] == COLOURS["reproduced"] and "95 % interval 7.3–33.6" in aime
    math = next(t for t in by_title if "reported 66.2" in t)
    assert math.startswith("not reproduced") and by_title[math] == COLOURS["not reproduced"]
    compared = diff[diff.status == "compared"]
    assert page.count("<tr>") >= len(compared)  # the compared cells are listed below the table
    assert "table1: main results" in page


def test_the_plotting_tables_draw_their_figure_with_the_papers_points(tmp_path):
    assert {name for name, t in TABLES.items() if t.has_plot} == {"figure3", "figure4", "figure5", "table8", "table9",
                                                                   "table10"}
    t10 = pd.DataFrame({"group": ["AIME 2025"] * 3, "row": ["1", "4", "64"], "SFT": [10.0, 20.0, 40.0],
                        "WMSS": [18.0, 25.0, 50.0]})
    path = tmp_path / "table10.csv"
    t10.to_csv(path, index=False)
    out = tmp_path / "table10.svg"
    table_plot(str(path), str(out))
    svg = ET.parse(out).getroot()
    assert svg.tag.endswith("svg")
    text = out.read_text()
    assert "WMSS (paper)" in text and "SFT (measured)" in text and "DPO" not in text  # no DPO column measured
    again = tmp_path / "again.svg"
    table_plot(str(path), str(again))
    assert again.read_bytes() == out.read_bytes() and "<dc:date>" not in text  # the same figure, the same bytes
    # Table 8's sweep: a panel per backbone and benchmark, a bar per configuration labelled with its shares
    t8 = pd.DataFrame({"group": ["", "Qwen3-4B-Base", "", "Qwen3-4B-Base"], "row": ["Config A"] * 2 + ["Default"] * 2,
                       "α": [0.2, None, 0.1, None], "β": [0.7, None, 0.8, None], "γ": [0.1, None, 0.1, None],
                       "AIME 2025": [None, 12.0, None, 15.0], "MATH 500": [None, 70.0, None, 69.0]})
    t8.to_csv(tmp_path / "table8.csv", index=False)
    table_plot(str(tmp_path / "table8.csv"), str(tmp_path / "table8.svg"))
    text = (tmp_path / "table8.svg").read_text()
    assert "Qwen3-4B-Base AIME 2025" in text and "Qwen3-4B-Base MATH 500" in text and "0.2/0.7/0.1" in text
    assert text.count("paper") >= 2  # the paper's values marked in each panel
    with pytest.raises(ValueError, match="draws no figure"):
        pd.DataFrame({"group": [""], "row": ["SFT"], "x": [1.0]}).to_csv(tmp_path / "table2.csv", index=False)
        table_plot(str(tmp_path / "table2.csv"), str(tmp_path / "table2.svg"))


def test_the_scatter_has_a_panel_per_table_with_intervals(tmp_path):
    _, diff_csv, diff = built_table1(tmp_path)
    other = diff.assign(table="table2")
    both = tmp_path / "diff.csv"
    pd.concat([diff, other]).to_csv(both, index=False)
    out = tmp_path / "scatter.svg"
    scatter(str(both), str(out))
    text = out.read_text()
    assert text.count("table1") >= 1 and text.count("table2") >= 1
    measured = pd.to_numeric(diff.measured, errors="coerce")
    points = diff[measured.notna() & diff.reported.notna()]
    legend = points.verdict.fillna("").where(points.verdict.fillna("") != "", points.status).value_counts()
    assert set(legend.index) == {"reproduced", "not reproduced"} and legend.sum() == 7  # 4 cells, 2 averages, 1 gain
    for state, n in legend.items():
        assert text.count(f"{state} ({n})") == 2, state  # one legend entry in each table's panel


def png_is_blank(path) -> bool:
    import matplotlib.image as mpimg

    pixels = mpimg.imread(path)
    return float(pixels[..., :3].std()) < 0.01


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make env installs it as root)")
def test_the_embedded_report_opens_in_chromium(embedded_local, tmp_path):
    """`snakemake --report` of the embedded run: Chromium renders it (a screenshot that is not blank) and the page
    holds every table and figure of the run."""
    work = embedded_local
    report = work / "results" / "embedded" / "report.html"
    run = snakemake(work, "--profile", "profiles/local", "--configfile", "config/embedded.yaml", "--report",
                    str(report))
    assert run.returncode == 0 and report.is_file(), run.stderr[-2000:]
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"]
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--virtual-time-budget=8000", report.as_uri()],
                   check=True, capture_output=True, timeout=180)
    assert shot.is_file() and not png_is_blank(shot)
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", "--virtual-time-budget=8000", report.as_uri()],
                         check=True, capture_output=True, text=True, timeout=180).stdout
    assert "Tables" in dom and "Figures" in dom and "Verdicts" in dom  # the report's categories, rendered
    source = report.read_text()
    tables = [t.stem for t in (work / "results" / "embedded" / "tables").glob("*.diff.csv")]
    assert len(tables) == 15
    for name in [t.removesuffix(".diff") for t in tables]:
        assert f"{name}.html" in source, name
    for figure in ("figure3.svg", "figure4.svg", "figure5.svg", "table8.svg", "table10.svg", "scatter.svg"):
        assert figure in source, figure
