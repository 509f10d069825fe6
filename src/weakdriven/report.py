"""What Snakemake's report shows (``snakemake --report``): each built table as HTML with every cell coloured by its
verdict, each plotting table's figure (the measured data with the paper's printed points overlaid), and the
measured-vs-reported scatter with the cells' intervals. Drawn with matplotlib, rendered with pandas."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster node
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG: searchable in the report
# The same figure gives the same bytes (two runs of a table, local or through SLURM, compare equal): fixed element ids
# and no creation date in the file
matplotlib.rcParams["svg.hashsalt"] = "weakdriven"
NO_DATE = {"Date": None}
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .checks import write_atomic  # noqa: E402
from .tables import TABLES  # noqa: E402
from .tables.diff import read_table  # noqa: E402
from .tables.paper import REPORTED_TABLES, reported_numbers  # noqa: E402

# one colour per verdict / status, as the report's legend says
COLOURS = {"reproduced": "#cdebd3", "not reproduced": "#f6c9cc", "no interval": "#fdf0c2", "not comparable": "#e4e8ee",
           "not run": "#f2f2f2", "not in paper": "#ffffff"}
MARKERS = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "no interval": "#b28704", "not comparable": "#546e7a"}


def cell_state(diff: pd.DataFrame) -> pd.Series:
    """The verdict of a compared cell, else its status: what colours it."""
    return diff["verdict"].where(diff["verdict"].fillna("") != "", diff["status"])


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return ""
    return f"{value:g}" if isinstance(value, float | int | np.floating | np.integer) else str(value)


def table_html(table_csv: str, diff_csv: str, out: str) -> None:
    """One table as an HTML fragment: the measured layout, each cell coloured by its verdict with the reported value
    and the interval on hover, a legend, then the compared cells with their intervals."""
    name = Path(table_csv).stem
    wide = read_table(table_csv)
    diff = pd.read_csv(diff_csv, keep_default_na=False, dtype={"group": str, "row": str, "column": str},
                       na_values=[""])
    diff["state"] = cell_state(diff.assign(verdict=diff["verdict"].fillna("")))
    # the diff names a paper table's cells by the paper's group labels: look measured cells up by (row, column) within
    # each group as the diff printed it
    by_cell = {(g, r, c): d for g, r, c, d in zip(diff["group"].fillna(""), diff["row"], diff["column"],
                                                   diff.to_dict("records"), strict=True)}
    groups_in_diff = set(diff["group"].fillna(""))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in wide.columns)
    rows = []
    for record in wide.to_dict("records"):
        group = record["group"] if record["group"] in groups_in_diff else ""
        cells = []
        for col in wide.columns:
            value = _fmt(record[col])
            d = by_cell.get((group, record["row"], col)) if col not in ("group", "row") else None
            if d is None:
                cells.append(f"<td>{html.escape(value)}</td>")
                continue
            tip = f"{d['state']}; reported {_fmt(d['reported']) or '-'}"
            if not pd.isna(d.get("interval_low")):
                tip += f"; 95 % interval {d['interval_low']:.1f}–{d['interval_high']:.1f}"
            cells.append(f'<td style="background:{COLOURS.get(d["state"], "#ffffff")}" '
                         f'title="{html.escape(tip)}">{html.escape(value)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = " ".join(f'<span style="background:{c};padding:2px 6px;border:1px solid #ccc">{html.escape(s)}</span>'
                      for s, c in COLOURS.items())
    compared = diff[diff["status"] == "compared"]
    detail = ""
    if len(compared):
        shown = compared[["group", "row", "column", "measured", "reported", "delta", "interval_low", "interval_high",
                          "verdict"]].round(2)
        detail = "<h3>Compared cells</h3>" + shown.to_html(index=False, na_rep="", classes="diff", border=0)
    counts = diff.groupby("state").size().to_dict()
    summary = ", ".join(f"{n} {html.escape(state)}" for state, n in counts.items())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
            "<style>body{font-family:sans-serif;margin:1em} table{border-collapse:collapse;font-size:13px} "
            "td,th{border:1px solid #bbb;padding:3px 6px;text-align:right} th{background:#f0f0f0}</style></head>"
            f"<body><h2 id='{html.escape(name)}'>{html.escape(name)}: {html.escape(TABLES[name].title)}</h2>"
            f"<p>{summary}</p><p>{legend}</p><table class='measured'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{detail}</body></html>")
    write_atomic(out, page)


def table_plot(table_csv: str, out: str) -> None:
    """The figure of a plotting table (``Table.plot``) from its built CSV and the paper's printed numbers."""
    name = Path(table_csv).stem
    table = TABLES[name]
    reported = reported_numbers(name) if name in REPORTED_TABLES else reported_numbers("table1").iloc[:0]
    fig = plt.figure(figsize=(9, 4.5), layout="constrained")
    if not table.plot(read_table(table_csv), reported, fig):
        raise ValueError(f"{name} draws no figure (its plug-in has no plot)")
    fig.suptitle(f"{name}: {table.title}")
    fig.savefig(out, format=Path(out).suffix.lstrip("."), metadata=NO_DATE)
    plt.close(fig)


def scatter(diff_csv: str, out: str) -> None:
    """Measured vs reported for every cell that has both, one panel per table, with the measured 95 % intervals as
    error bars and the diagonal; colour = verdict (or status)."""
    diff = pd.read_csv(diff_csv, keep_default_na=False, dtype={"group": str, "row": str, "column": str},
                       na_values=[""])
    diff["verdict"] = diff["verdict"].fillna("")
    diff["state"] = cell_state(diff)
    diff["measured"] = pd.to_numeric(diff["measured"], errors="coerce")
    both = diff[diff["measured"].notna() & diff["reported"].notna()]
    tables = list(dict.fromkeys(both["table"])) or ["(no cell measured and reported)"]
    cols = min(4, len(tables))
    rows = -(-len(tables) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax, name in zip(axes.flat, tables, strict=False):
        block = both[both["table"] == name]
        for state, part in block.groupby("state"):
            low = (part["measured"] - part["interval_low"]).clip(lower=0).fillna(0)
            high = (part["interval_high"] - part["measured"]).clip(lower=0).fillna(0)
            ax.errorbar(part["reported"], part["measured"], yerr=[low, high], fmt="o", ms=4, capsize=2,
                        color=MARKERS.get(state, "#333333"), label=f"{state} ({len(part)})")
        values = pd.concat([block["reported"], block["measured"]]) if len(block) else pd.Series([0.0, 1.0])
        lo, hi = float(values.min()), float(values.max())
        pad = 0.05 * (hi - lo or 1)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#999999", lw=0.8, ls="--")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("reported")
        ax.set_ylabel("measured")
        if len(block):
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tables):]:
        ax.set_visible(False)
    fig.suptitle("Measured vs reported, per table (error bars: the measured 95 % interval)")
    fig.savefig(out, format=Path(out).suffix.lstrip("."), metadata=NO_DATE)
    plt.close(fig)
