"""What a stage reads is checked before it is used, and what it writes appears whole or not at all.

A truncated or damaged input (a JSON record, a checkpoint's config or weights) is an error that names the file and
says which rule writes it, instead of a bare ``JSONDecodeError`` or ``SafetensorError`` deep inside a library.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any


class DamagedFile(ValueError):
    """An input file is truncated or not what its name says; the message names it."""


def read_json(path: str | Path) -> Any:
    """The JSON document in ``path``; a truncated or damaged file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DamagedFile(f"{path}: not valid JSON ({err}); the file is truncated or damaged: delete it and rerun "
                          "the rule that writes it") from None


def check_safetensors(path: str | Path) -> None:
    """A safetensors file's header parses and the file holds every byte the header promises (a cut-off copy does
    not); reads only the header."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise DamagedFile(f"{path}: {size} bytes, too short for a safetensors file: it is truncated")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise DamagedFile(f"{path}: its header claims {n} bytes but the file has {size}: it is truncated")
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DamagedFile(f"{path}: the safetensors header is not valid JSON: the file is damaged") from None
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise DamagedFile(f"{path}: the header describes {8 + n + end} bytes but the file has {size}: it is "
                          "truncated or damaged")


def checked_checkpoint(path: str | Path) -> Path:
    """A Hugging Face checkpoint directory whose config parses and whose weight files are complete."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face checkpoint (no config.json)")
    read_json(path / "config.json")
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{path} holds no *.safetensors weights")
    for file in weights:
        check_safetensors(file)
    return path


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory: readers see the old file or the
    whole new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")  # opened normally: the umask sets its mode
    try:
        part.write_text(text)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LowYield(ValueError):
    """A stage that filters rows kept fewer than its configured minimum; the message names every reason's count."""


def check_yield(what: str, kept: int, minimum: int | None, counts: dict[str, int], key: str) -> None:
    """Fail the stage that filtered ``what`` when it kept fewer than ``minimum`` rows (config key ``key``; None: no
    floor), naming the count of every reason, so that the job that made too few rows fails, not a later one that
    reads them."""
    if minimum is None or kept >= minimum:
        return
    detail = ", ".join(f"{reason} {n:,}" for reason, n in counts.items())
    raise LowYield(f"{what}: kept {kept:,}, fewer than the minimum of {minimum:,} (config key '{key}'). Per reason: "
                   f"{detail}")
