"""The mixture training set (``train_domains: mixture``): the math, code and logic sets as one, for one model per
method trained on all three domains instead of one per domain (the paper trains per domain, App. E.2-E.5).

Each row keeps its fields (a code row its ``tests``) and gains its ``domain``, which tells the generation phases how
to grade an answer to it (``methods/sampling.py``); ids become ``<domain>/<id>``, unique across the sets. Rows are
in set order (math, code, logic); training shuffles them.
"""

from __future__ import annotations

from ..provenance import write_summary
from .chat import read_jsonl, write_jsonl

MIX_ORDER = ("math", "code", "logic")


def mixed_rows(sets: dict[str, str]) -> tuple[list[dict], dict[str, int]]:
    """The rows of the sets (domain -> file) with their domain, and the count per domain; a set missing, empty or
    with a row already naming another domain is an error naming the file."""
    missing = [d for d in MIX_ORDER if d not in sets]
    if missing or set(sets) - set(MIX_ORDER):
        raise ValueError(f"the mixture reads the sets {list(MIX_ORDER)}; got {sorted(sets)}")
    rows, counts = [], {}
    for domain in MIX_ORDER:
        path = sets[domain]
        found = list(read_jsonl(path, ("id", "question", "completion", "answer")))
        if not found:
            raise ValueError(f"{path}: the {domain} set holds no rows")
        clash = next((r["id"] for r in found if r.get("domain", domain) != domain), None)
        if clash is not None:
            raise ValueError(f"{path}: row {clash} names another domain than {domain!r}")
        rows += [{**r, "id": f"{domain}/{r['id']}", "domain": domain} for r in found]
        counts[domain] = len(found)
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate ids within a set among {sorted(sets.values())}")
    return rows, counts


def mix_stage(sets: list[str], out: str, summary_out: str) -> None:
    """``mix-data``: ``sets`` as ``domain=path`` -> the mixture set ``out`` and its summary (counts, input digests)."""
    parsed = dict(s.split("=", 1) for s in sets)
    rows, counts = mixed_rows(parsed)
    write_jsonl(out, rows)
    write_summary(summary_out, {"domain": "mix", "kept": len(rows), "counts": counts},
                  [parsed[d] for d in MIX_ORDER])
