"""A teacher's top-k logits per reply token (SSB, App. E.6), stored compactly beside a JSON Lines index.

The index (``<part>.jsonl``, the rule's output) has one row per kept reply: its id, question and reply, the reply's
token ids, and where its logits lie: ``shard`` (a file name next to the index), ``start`` and ``length`` (rows of that
shard, one per reply token) and the shard's ``sha256``. A shard ``<part>.topk-00000.npz`` holds ``ids`` [tokens, k]
int32, ``values`` [tokens, k] float32 (raw logits) and ``lse`` [tokens] float32, the logsumexp of z / T over the whole
vocabulary at the distillation temperature T (what the ``bucket`` tail needs). At V = 151,936 and k = 20 a token costs
164 bytes instead of 600 KB at full vocabulary in fp32.

Reading checks every row (named by file and line) and every shard's checksum and shape before training starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..benchmarks import file_sha256
from .chat import parse_json_lines, write_jsonl

STRINGS = ("id", "question", "reply", "shard", "sha256")


def shard_name(index: Path, number: int) -> str:
    return f"{index.stem}.topk-{number:05d}.npz"


def write_topk(index: str | Path, rows: list[dict], targets: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
               shard_rows: int) -> dict:
    """Write ``rows`` (each with id, question, reply, reply_ids, ...) and their ``targets`` (ids [n, k], values
    [n, k], lse [n], n = len(reply_ids); any iterable, consumed one shard of ``shard_rows`` replies at a time, so a
    generator keeps memory bounded) as the index ``index`` and its shards; returns counts."""
    index = Path(index)
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    index.parent.mkdir(parents=True, exist_ok=True)
    out_rows, shards, tokens = [], 0, 0  # the shards first, the index (the rule's output) last
    pending: list[tuple[dict, tuple]] = []
    targets = iter(targets)

    def flush() -> None:
        nonlocal shards, tokens
        name = shard_name(index, shards)
        np.savez(index.parent / name, ids=np.concatenate([t[0] for _, t in pending]).astype(np.int32),
                 values=np.concatenate([t[1] for _, t in pending]).astype(np.float32),
                 lse=np.concatenate([t[2] for _, t in pending]).astype(np.float32))
        digest = file_sha256(index.parent / name)
        start = 0
        for row, (ids, _, _) in pending:
            out_rows.append({**row, "shard": name, "start": start, "length": int(ids.shape[0]), "sha256": digest})
            start += int(ids.shape[0])
        shards, tokens = shards + 1, tokens + start
        pending.clear()

    for row in rows:
        try:
            ids, values, lse = next(targets)
        except StopIteration:
            raise ValueError(f"{index}: no target arrays for id {row['id']!r}") from None
        if ids.shape != values.shape or ids.shape[0] != len(row["reply_ids"]) or lse.shape != (ids.shape[0],):
            raise ValueError(f"{index}: targets of id {row['id']!r} do not match its {len(row['reply_ids'])} "
                             f"reply tokens: ids {ids.shape}, values {values.shape}, lse {lse.shape}")
        pending.append((row, (ids, values, lse)))
        if len(pending) == shard_rows:
            flush()
    if pending:
        flush()
    if next(targets, None) is not None:
        raise ValueError(f"{index}: more target arrays than the {len(out_rows)} rows")
    write_jsonl(index, out_rows)
    return {"replies": len(out_rows), "shards": shards, "tokens": tokens}


def read_topk(index: str | Path) -> list[dict]:
    """The index rows with their targets attached (``topk_ids``, ``topk_values``, ``teacher_lse`` as numpy arrays);
    a bad row, a missing or altered shard, or a shape that does not match is an error naming the file (and line)."""
    index = Path(index)
    if not index.is_file():
        raise FileNotFoundError(f"{index} does not exist")
    with open(index) as fh:
        numbered = list(parse_json_lines(fh, index))
    if not numbered:
        raise ValueError(f"{index}: no replies")
    shards: dict[str, dict[str, np.ndarray]] = {}
    seen: set[str] = set()
    for line, row in numbered:
        where = f"{index}:{line}"
        missing = [k for k in STRINGS if not isinstance(row.get(k), str)]
        if missing:
            raise ValueError(f"{where}: missing or non-string field(s) {missing}")
        if row["id"] in seen:
            raise ValueError(f"{where}: id {row['id']!r} appears twice")
        seen.add(row["id"])
        ids = row.get("reply_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and i >= 0 for i in ids):
            raise ValueError(f"{where}: reply_ids must be a non-empty list of token ids")
        for key in ("start", "length"):
            if not isinstance(row.get(key), int) or isinstance(row[key], bool) or row[key] < 0:
                raise ValueError(f"{where}: {key} must be an integer >= 0, got {row.get(key)!r}")
        if row["length"] != len(ids):
            raise ValueError(f"{where}: length {row['length']} but {len(ids)} reply tokens")
        name = row["shard"]
        if not isinstance(name, str) or Path(name).name != name:
            raise ValueError(f"{where}: shard must be a file name next to the index, got {name!r}")
        if name not in shards:
            path = index.parent / name
            if not path.is_file():
                raise FileNotFoundError(f"{where}: shard {path} does not exist")
            if file_sha256(path) != row["sha256"]:
                raise ValueError(f"{where}: shard {path} does not match its sha256 {row['sha256']}: altered or "
                                 "rewritten after the index")
            with np.load(path) as data:
                try:
                    shards[name] = {key: data[key] for key in ("ids", "values", "lse")}
                except KeyError as err:
                    raise ValueError(f"{where}: shard {path} has no array {err}") from None
            got = shards[name]
            if (got["ids"].ndim != 2 or got["values"].shape != got["ids"].shape
                    or got["lse"].shape != got["ids"].shape[:1]):
                raise ValueError(f"{where}: shard {path}: ids {got['ids'].shape}, values {got['values'].shape} and "
                                 f"lse {got['lse'].shape} do not agree")
            if not (np.isfinite(got["values"]).all() and np.isfinite(got["lse"]).all()) or (got["ids"] < 0).any():
                raise ValueError(f"{where}: shard {path} holds non-finite logits or negative token ids")
        data = shards[name]
        if data.setdefault("sha256", row["sha256"]) != row["sha256"]:
            raise ValueError(f"{where}: shard {name} listed with two checksums")
        end = row["start"] + row["length"]
        if end > data["ids"].shape[0]:
            raise ValueError(f"{where}: tokens {row['start']}..{end} lie beyond shard {name}'s "
                             f"{data['ids'].shape[0]} rows")
        row["topk_ids"] = data["ids"][row["start"]:end]
        row["topk_values"] = data["values"][row["start"]:end]
        row["teacher_lse"] = data["lse"][row["start"]:end]
    return [row for _, row in numbered]
