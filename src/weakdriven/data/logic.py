"""The logic training set (App. E.3, Table 12): LogiQA 2.0 and ReClor questions, held-out splits removed by content,
answered by a thinking teacher, kept when the teacher's option is the gold one.

Step 1 (``logic_candidates``) merges the raw splits into one format, ``{id, source, split, question, options, gold}``
with the question rendered exactly as the evaluation renders it (``benchmarks.multiple_choice``: passage, question,
lettered options), and removes the held-out evaluation splits (LogiQA 2.0 test, ReClor val) *by content*: every item
whose normalised rendered text equals a held-out item's is dropped, whatever split it came from, and the candidates
are checked against the evaluation's own test files (``assert_no_evaluation_items``). The paper: ~17,205 merged
items, 15,133 candidates.

Step 2 (``distilled_rows``) reads the teacher's answers (Qwen3-32B in thinking mode on a cluster; any model through
the generation backend) and keeps those whose option, read from the text after the thinking block, is the gold
letter. A kept answer becomes a training row in the paper's chat format: the thinking as ``<think>...</think>`` and
the final answer as ``<answer>...</answer>`` (the Gemma run strips the tags at training time, App. E.4). The paper
kept 14,882 (98.3 %).

Raw layouts: LogiQA 2.0 (github.com/csitfun/LogiQA2.0, ``logiqa/DATA/LOGIQA/{train,dev,test}.txt``): JSON Lines of
``{"id", "answer" (0-3), "text", "question", "options" [4], "type"}``. ReClor (the release zip, ``train.json``,
``val.json``): a JSON list of ``{"context", "question", "answers" [4], "label" (0-3), "id_string"}``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..benchmarks import multiple_choice
from ..eval.grading import extract_choice
from .chat import parse_json_lines

SOURCES = ("logiqa2", "reclor")
FILES = {  # source -> split -> file name in the release
    "logiqa2": {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"},
    "reclor": {"train": "train.json", "val": "val.json"},
}
HELD_OUT = {"logiqa2": "test", "reclor": "val"}  # App. E.3: the evaluation splits (ReClor's test has no labels)
# The splits the candidates come from. App. E.3 merges LogiQA 2.0 train/dev/test and ReClor train/val ("~17,205
# items") and removes the 2,072 held-out items (15,133 candidates); the releases hold 12,567 / 1,569 / 1,572 and
# 4,638 / 500 items, so with dev the pool is 18,774 candidates, and 17,205 is exactly LogiQA 2.0 train + ReClor train.
# Both readings are a setting (train_data.logic.splits); the default follows the text (dev included).
CANDIDATE_SPLITS = ("logiqa2/train", "logiqa2/dev", "reclor/train")
EVALUATION_BENCHMARKS = ("LogiQA2", "ReClor")  # the registry's names of those test sets
PAPER_COUNTS = {"merged": 17_205, "held out": 2_072, "candidates": 15_133, "kept": 14_882}
REASONS = ("kept", "truncated", "no option", "wrong option")

# Not printed by the paper: the question, then the final-answer form every logic answer here ends with.
PROMPT_TEMPLATE = "{question}\n\nThink the problem through, then end your response with 'The answer is (X).'"
_THINK = re.compile(r"^\s*<think>(.*?)</think>(.*)$", re.S)


@dataclass(frozen=True)
class LogicSettings:
    """``train_data`` of a logic domain. ``prompt_template`` names ``{question}``; ``require_thinking``: an answer
    without a ``<think>...</think>`` block is dropped as ``no thinking`` (a thinking teacher always writes one)."""

    prompt_template: str = PROMPT_TEMPLATE
    system_prompt: str | None = None
    temperature: float = 0.6        # Qwen3's recommended thinking-mode sampling (the paper names none)
    top_p: float = 0.95
    top_k: int = 20
    max_new_tokens: int = 16384
    require_thinking: bool = True


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: two renderings of one item compare equal."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _item(source: str, split: str, raw_id, passage, question, options, answer, where: str) -> dict:
    try:
        record = multiple_choice(str(passage), str(question), options, answer)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return {"id": f"{source}-{split}-{raw_id}", "source": source, "split": split, **record}


def read_split(source: str, split: str, path: str | Path) -> list[dict]:
    """The items of one raw split file, each checked (bad rows named by file and line or index)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{source} {split}: {path} not found (prefetch it: `weakdriven prefetch`)")
    items = []
    if source == "logiqa2":
        with open(path, encoding="utf-8") as fh:
            for lineno, row in parse_json_lines(fh, path):
                missing = [k for k in ("id", "answer", "text", "question", "options") if k not in row]
                if missing:
                    raise ValueError(f"{path}:{lineno}: missing field(s) {missing}")
                # LogiQA 2.0's ids repeat inside a file: the line number names the item
                items.append(_item(source, split, lineno, row["text"], row["question"], row["options"],
                                   row["answer"], f"{path}:{lineno}"))
    elif source == "reclor":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of ReClor items")
        for i, row in enumerate(rows):
            missing = [k for k in ("context", "question", "answers", "label", "id_string") if k not in row]
            if missing:
                raise ValueError(f"{path}: item {i}: missing field(s) {missing}")
            items.append(_item(source, split, i, row["context"], row["question"], row["answers"], row["label"],
                               f"{path}: item {i}"))
    else:
        raise ValueError(f"unknown logic source {source!r}; expected one of {SOURCES}")
    return items


def raw_files(root: str | Path) -> dict[tuple[str, str], Path]:
    """(source, split) -> file under ``root``, laid out as ``root/logiqa2/<file>`` and ``root/reclor/<file>``."""
    root = Path(root)
    return {(source, split): root / source / name for source, splits in FILES.items() for split, name in splits.items()}


def logic_candidates(items: Iterable[dict], evaluation_questions: Iterable[str] = (),
                     splits: Iterable[str] = CANDIDATE_SPLITS) -> tuple[list[dict], Counter]:
    """The training candidates: every item of the ``splits`` ("source/split") whose normalised text is neither a
    held-out item's nor one of ``evaluation_questions`` (the evaluation's rendered questions). Counts: ``merged``,
    ``held out`` (items of the held-out splits), ``held-out content`` (items of candidate splits removed as copies of
    a held-out or evaluation item), ``not a candidate split``, ``candidates``."""
    splits = set(splits)
    bad = sorted(s for s in splits if s.partition("/")[0] not in FILES or s.partition("/")[2] not in
                 FILES[s.partition("/")[0]] or HELD_OUT[s.partition("/")[0]] == s.partition("/")[2])
    if bad:
        raise ValueError(f"config key 'train_data.logic.splits': {bad} are not training splits; choose from "
                         f"{[f'{src}/{sp}' for src, sps in FILES.items() for sp in sps if HELD_OUT[src] != sp]}")
    items = list(items)
    held = {normalise(it["question"]) for it in items if HELD_OUT.get(it["source"]) == it["split"]}
    held |= {normalise(q) for q in evaluation_questions}
    counts = Counter(merged=len(items))
    candidates = []
    for it in items:
        if HELD_OUT.get(it["source"]) == it["split"]:
            counts["held out"] += 1
        elif f"{it['source']}/{it['split']}" not in splits:
            counts["not a candidate split"] += 1
        elif normalise(it["question"]) in held:
            counts["held-out content"] += 1
        else:
            candidates.append(it)
    counts["candidates"] = len(candidates)
    return candidates, counts


def assert_no_evaluation_items(candidates: list[dict], evaluation: dict[str, list[str]]) -> None:
    """Fail, naming them, if any candidate's text is an evaluation item's (``evaluation``: benchmark -> questions)."""
    keys = {normalise(it["question"]): it["id"] for it in candidates}
    leaked = [(bench, keys[normalise(q)]) for bench, questions in evaluation.items() for q in questions
              if normalise(q) in keys]
    if leaked:
        raise ValueError(f"{len(leaked)} evaluation item(s) remain in the logic training candidates, e.g. "
                         f"{leaked[:5]}")


def check_counts(counts: Counter, expected: dict[str, int] | None) -> None:
    """Each expected count (config key ``train_data.logic.expected``) against the measured one."""
    wrong = {k: (counts[k], v) for k, v in (expected or {}).items() if counts[k] != v}
    if wrong:
        detail = ", ".join(f"{k} {got:,} (expected {want:,})" for k, (got, want) in wrong.items())
        raise ValueError(f"the logic set's counts differ from config key 'train_data.logic.expected': {detail}. "
                         f"All counts: {dict(counts)}. Set the key to null to use these items anyway")


def teacher_prompt(item: dict, template: str = PROMPT_TEMPLATE) -> str:
    try:
        return template.format(question=item["question"])
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"train_data.logic.prompt_template: {err!r}; it may name only {{question}}") from None


def split_thinking(text: str) -> tuple[str | None, str]:
    """(thinking, final answer) of a teacher answer: the ``<think>`` block and what follows it; (None, text) when the
    answer has no closed thinking block (a thinking model's template may open ``<think>`` in the prompt, so an
    answer that starts inside the block and closes it counts too)."""
    m = _THINK.match(text)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    if "</think>" in text:
        thinking, _, final = text.partition("</think>")
        return thinking.strip(), final.strip()
    return None, text.strip()


def distilled_rows(candidates: list[dict], records: list[dict], require_thinking: bool = True
                   ) -> tuple[list[dict], Counter]:
    """Training rows ``{id, question, completion, answer}`` from the teacher's generation records (one per candidate:
    ``prompt_id``, ``text``, ``finish_reason``) and the count per reason (:data:`REASONS`, plus ``no thinking``)."""
    by_id = {it["id"]: it for it in candidates}
    answered = Counter(r["prompt_id"] for r in records)
    missing = [i for i in by_id if i not in answered]
    unknown = [i for i in answered if i not in by_id]
    repeated = [i for i, n in answered.items() if n > 1]
    if missing or unknown or repeated:
        raise ValueError(f"teacher answers do not match the candidates one to one: {len(missing)} unanswered "
                         f"{missing[:3]}, {len(unknown)} unknown {unknown[:3]}, {len(repeated)} answered twice "
                         f"{repeated[:3]}")
    rows, counts = [], Counter()
    for r in records:
        item = by_id[r["prompt_id"]]
        thinking, final = split_thinking(r["text"])
        if r["finish_reason"] == "length":
            counts["truncated"] += 1
            continue
        if thinking is None and require_thinking:
            counts["no thinking"] += 1
            continue
        letter = extract_choice(final, item["options"])
        if letter is None:
            counts["no option"] += 1
            continue
        if letter != item["gold"]:
            counts["wrong option"] += 1
            continue
        counts["kept"] += 1
        rows.append({"id": item["id"], "question": item["question"],
                     "completion": f"<think>\n{thinking or ''}\n</think>\n<answer>{final}</answer>",
                     "answer": item["gold"]})
    return rows, counts
