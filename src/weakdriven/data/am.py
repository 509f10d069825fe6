"""The paper's training data: the math subset of a-m-team/AM-DeepSeek-R1-Distilled-1.4M (App. E.2, Table 12).

The hub repository holds its subsets as zstd-compressed JSON Lines at its top level (its card's ``configs``):
``am_0.5M.jsonl.zst`` and ``am_0.9M.jsonl.zst`` (together the 1.4M rows), and ``am_0.9M_sample_1k.jsonl`` (1,000
rows, plain). A row is ``{"messages": [{"role": "user", "content", "info": {"source", "reference_answer",
"test_case"}}, {"role": "assistant", "content": "<think>...</think>\\n<answer>...</answer>", "info": {"source",
"think_content", "answer_content"}}]}``. The files are read line by line with ``zstandard`` (not through
``datasets``: the card declares ``test_case`` both as a struct and as a string, and Arrow refuses the mix).

Rows are filtered as the authors' code does, in this order: at least two messages with non-empty first user and
assistant turns; the assistant text matches the think/answer/boxed format; the first message's info holds a reference
answer; math-verify parses that reference; math-verify accepts the assistant text against it. The authors kept
111,657 of 1,400,000 rows (1,034,155 bad format, 94,575 no reference, 97,876 unparsable reference, 61,737 incorrect).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..provenance import write_summary
from .chat import parse_json_lines, write_jsonl

FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>.*?\\boxed\{.*?\}.*?</answer>$", re.DOTALL)
SUBSET_FILES = {  # the dataset card's configs -> their files
    "am_0.5M": "am_0.5M.jsonl.zst",
    "am_0.9M": "am_0.9M.jsonl.zst",
    "am_0.9M_sample_1k": "am_0.9M_sample_1k.jsonl",
}
PAPER_SUBSETS = ("am_0.5M", "am_0.9M")  # the 1.4M rows the paper filtered
REASONS = ("kept", "bad messages", "bad format", "no reference", "unparsable reference", "incorrect")
PAPER_COUNTS = {"kept": 111_657, "bad format": 1_034_155, "no reference": 94_575, "unparsable reference": 97_876,
                "incorrect": 61_737}


def _reference(row: dict) -> str | None:
    info = row["messages"][0].get("info") or {}
    ref = info.get("reference_answer")
    return str(ref).strip() if ref not in (None, "") else None


def math_verdict(completion: str, reference: str, timeout_s: int = 5) -> str:
    """``kept``, ``unparsable reference`` or ``incorrect``: math-verify on the whole assistant text against the
    reference answer parsed as it stands (a reference math-verify extracts nothing from, e.g. a proof or an essay
    answer, is unparsable), as the authors' filter calls it."""
    from math_verify import parse, verify

    gold = parse(reference, parsing_timeout=timeout_s)
    if not gold:
        return "unparsable reference"
    answer = parse(completion, parsing_timeout=timeout_s)
    return "kept" if answer and verify(gold, answer, timeout_seconds=timeout_s) else "incorrect"


def filter_math_rows(rows: Iterable[dict | tuple[str, dict]], verdict=None) -> tuple[list[dict], Counter]:
    """Training records ``{id, question, completion, answer}`` and the count of rows per reason (``REASONS``).
    ``rows`` are raw rows (ids ``am-<i>``) or ``(id, row)`` pairs as ``iter_am_rows`` yields them."""
    verdict = verdict or math_verdict
    kept, counts = [], Counter()
    for i, item in enumerate(rows):
        row_id, row = item if isinstance(item, tuple) else (f"am-{i}", item)
        messages = row.get("messages") or []
        if (len(messages) < 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant"
                or not str(messages[0].get("content", "")).strip() or not str(messages[1].get("content", "")).strip()):
            counts["bad messages"] += 1
            continue
        completion = messages[1]["content"].strip()
        if not FORMAT.match(completion):
            counts["bad format"] += 1
            continue
        reference = _reference(row)
        if reference is None:
            counts["no reference"] += 1
            continue
        try:
            reason = verdict(completion, reference)
        except Exception:  # math-verify raising on a reference it cannot handle
            reason = "unparsable reference"
        counts[reason] += 1
        if reason == "kept":
            kept.append({"id": row_id, "question": messages[0]["content"].strip(), "completion": completion,
                         "answer": reference})
    return kept, counts


def check_kept_count(counts: Counter, expected: int | None) -> None:
    """The kept count against the paper's (``train_data.expected_rows``); a mismatch names every count."""
    if expected is None or counts["kept"] == expected:
        return
    table = ", ".join(f"{reason} {counts[reason]:,} (paper: {PAPER_COUNTS.get(reason, 0):,})" for reason in REASONS)
    raise ValueError(f"the math filter kept {counts['kept']:,} rows, config key 'train_data.expected_rows' says "
                     f"{expected:,}. Per reason: {table}. Set 'train_data.expected_rows: null' to train on these rows "
                     "anyway")


def am_files(source: str, hub_id: str | None = None, revision: str | None = None, path: str | None = None,
             subsets: Iterable[str] = PAPER_SUBSETS) -> list[tuple[str, Path]]:
    """(subset, file) of each subset: from the hub snapshot at ``revision`` (the HF cache; ``HF_HUB_OFFLINE=1``
    reads only the cache), or from ``path``, a directory in the hub repository's layout or one JSONL file."""
    subsets = list(subsets)
    unknown = [s for s in subsets if s not in SUBSET_FILES]
    if unknown:
        raise ValueError(f"config key 'train_data.subsets': {unknown} are not subsets of the dataset "
                         f"({sorted(SUBSET_FILES)})")
    if source == "hub":
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(hub_id, repo_type="dataset", revision=revision,
                                      allow_patterns=[SUBSET_FILES[s] for s in subsets]))
    elif source == "local":
        root = Path(path)
        if root.is_file():
            return [(root.name.split(".")[0], root)]
    else:
        raise ValueError(f"train_data.source {source!r} is not a source of AM rows (hub or local)")
    files = [(s, root / SUBSET_FILES[s]) for s in subsets]
    missing = [str(f) for _, f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"training data file(s) missing: {missing} (prefetch them: `weakdriven prefetch`)")
    return files


def _zstd_bytes(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of a zstd file of one or more frames; a file that ends inside a frame (a cut-off
    download) raises EOFError, where zstandard's stream reader would just stop."""
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)  # long windows, as the authors' reader allows
    obj, inside = dctx.decompressobj(), False
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            while chunk:
                inside = True
                yield obj.decompress(chunk)
                chunk = b""
                if obj.eof:  # a frame ended: what follows is the next frame
                    chunk, obj, inside = obj.unused_data, dctx.decompressobj(), False
    if inside:
        raise EOFError("the file ends inside a zstd frame")


def _lines(path: Path) -> Iterator[str]:
    if path.name.endswith(".zst"):
        pending = b""
        for block in _zstd_bytes(path):
            pending += block
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8")
        if pending:
            yield pending.decode("utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            yield from fh


def iter_am_rows(files: list[tuple[str, Path]]) -> Iterator[tuple[str, dict]]:
    """``(id, row)`` of every line of the files, ids ``<subset>-<line number>``; a damaged line or file is an error
    naming it."""
    import zstandard


    for subset, path in files:
        lineno = 0
        try:
            for lineno, row in parse_json_lines(_lines(path), path):
                yield f"{subset}-{lineno}", row
        except (zstandard.ZstdError, UnicodeDecodeError, EOFError) as err:
            raise ValueError(f"{path}: damaged after line {lineno} ({type(err).__name__}: {err}); download it "
                             "again") from None


def prepare_train_data(train_data: dict, out: str, summary: str) -> None:
    """The math training set (the config's ``train_data`` section): the AM rows through the authors' filters, the
    kept count checked against the paper's, at most ``max_rows`` written; Table 12's ``summary`` holds the counts
    and the sha256 of every AM file read."""
    import logging


    log = logging.getLogger(__name__)
    files = am_files(train_data["source"], train_data.get("hub_id"), train_data.get("revision"),
                     train_data.get("path"), train_data.get("subsets", PAPER_SUBSETS))
    log.info("AM rows from %s", [str(f) for _, f in files])
    kept, counts = filter_math_rows(iter_am_rows(files))
    for reason in REASONS:
        log.info("AM math filter: %-20s %9d", reason, counts[reason])
    check_kept_count(counts, train_data.get("expected_rows"))
    rows = kept[: train_data["max_rows"]] if train_data["max_rows"] else kept
    write_jsonl(out, rows)
    write_summary(summary, {"domain": "math", "source": "AM-DeepSeek-R1-Distilled-1.4M math rows verified by "
                            "math-verify", "kept": counts["kept"], "written": len(rows), "counts": dict(counts),
                            "paper": PAPER_COUNTS}, [f for _, f in files])
