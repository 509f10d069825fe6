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
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..benchmarks import multiple_choice
from ..checks import check_yield, file_sha256, read_json
from ..device import job_device
from ..eval.generation import Protocol, generate_transformers, generate_vllm
from ..eval.grading import extract_choice
from ..provenance import write_summary
from .chat import parse_json_lines, prompt_text, read_jsonl, write_jsonl
from .generated import read_generated

log = logging.getLogger(__name__)

SOURCES = ("logiqa2", "reclor")
FILES = {  # source -> split -> file name in the release
    "logiqa2": {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"},
    "reclor": {"train": "train.json", "val": "val.json"},
}
# Pinned downloads (prefetch): LogiQA 2.0's files at a commit of csitfun/LogiQA2.0 (its test.txt is the evaluation's
# LogiQA2 test set, same sha256); ReClor has no direct download (a form gives the release zip).
LOGIQA2_COMMIT = "955e1d3df6c59d9bfb44d9913da1e1a27ec14e18"
LOGIQA2_URL = "https://raw.githubusercontent.com/csitfun/LogiQA2.0/{commit}/logiqa/DATA/LOGIQA/{name}"
LOGIQA2_SHA256 = {"train.txt": "98eb412e8ed53b3d65da5ef75b00b7a0bbdea7970c05ad699291a2a0510922de",
                  "dev.txt": "bbefb563b7ddc02640ccdc314c1315d5727dba48539d0ecdd126fa351e511b09",
                  "test.txt": "71940b37ae0184b677c253a148d57ad4e75d6113447b1563c2ca82483e4e4f8d"}
RECLOR_ZIP = "the ReClor release zip (https://whyu.me/reclor/, a form): its train.json and val.json"
HELD_OUT = {"logiqa2": "test", "reclor": "val"}  # App. E.3: the evaluation splits (ReClor's test has no labels)
# The splits the candidates come from. App. E.3 merges LogiQA 2.0 train/dev/test and ReClor train/val ("~17,205
# items") and removes the 2,072 held-out items (15,133 candidates); the releases hold 12,567 / 1,569 / 1,572 and
# 4,638 / 500 items, so with dev the pool is 18,774 candidates, and 17,205 is exactly LogiQA 2.0 train + ReClor train.
# Both readings are a setting (logic_data.splits); the default follows the text (dev included).
CANDIDATE_SPLITS = ("logiqa2/train", "logiqa2/dev", "reclor/train")
PAPER_COUNTS = {"merged": 17_205, "held out": 2_072, "candidates": 15_133, "kept": 14_882}
RELEASE_ROWS = {"logiqa2/train": 12_567, "logiqa2/dev": 1_569, "logiqa2/test": 1_572, "reclor/train": 4_638,
                "reclor/val": 500}
REASONS = ("kept", "truncated", "no option", "wrong option")

# Not printed by the paper: the question, then the final-answer form every logic answer here ends with.
PROMPT_TEMPLATE = "{question}\n\nThink the problem through, then end your response with 'The answer is (X).'"


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


def fetch_raw(root: str | Path) -> list[str]:
    """Download LogiQA 2.0's pinned files into ``root/logiqa2/`` (checked by sha256; a file already there with the
    right digest is kept) and check that ReClor's are in ``root/reclor/``; returns the files."""
    import urllib.request

    files = raw_files(root)
    for name, digest in LOGIQA2_SHA256.items():
        path = files[("logiqa2", name.split(".")[0])]
        if path.is_file() and file_sha256(path) == digest:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        with urllib.request.urlopen(LOGIQA2_URL.format(commit=LOGIQA2_COMMIT, name=name), timeout=120) as response, \
                open(part, "wb") as out:
            out.write(response.read())
        if (got := file_sha256(part)) != digest:
            part.unlink()
            raise ValueError(f"LogiQA 2.0 {name} at {LOGIQA2_COMMIT[:8]}: sha256 {got[:16]}... is not {digest[:16]}...")
        part.replace(path)
    missing = [str(p) for (source, _), p in files.items() if source == "reclor" and not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing} missing: put {RECLOR_ZIP} there")
    return [str(p) for p in files.values()]


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
        raise ValueError(f"config key 'logic_data.splits': {bad} are not training splits; choose from "
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
    """Each expected count (config key ``logic_data.expected``) against the measured one."""
    wrong = {k: (counts[k], v) for k, v in (expected or {}).items() if counts[k] != v}
    if wrong:
        detail = ", ".join(f"{k} {got:,} (expected {want:,})" for k, (got, want) in wrong.items())
        raise ValueError(f"the logic set's counts differ from config key 'logic_data.expected': {detail}. "
                         f"All counts: {dict(counts)}. Set the key to null to use these items anyway")


def teacher_prompt(item: dict, template: str = PROMPT_TEMPLATE) -> str:
    try:
        return template.format(question=item["question"])
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"logic_data.prompt_template: {err!r}; it may name only {{question}}") from None


def split_thinking(text: str) -> tuple[str | None, str]:
    """(thinking, final answer) of a teacher answer: the ``<think>`` block and what follows it; (None, text) when the
    answer has no closed thinking block (a thinking model's template may open ``<think>`` in the prompt, so an
    answer that starts inside the block and closes it counts too)."""
    if "</think>" not in text:
        return None, text.strip()
    thinking, _, final = text.partition("</think>")
    return thinking.strip().removeprefix("<think>").strip(), final.strip()


def distilled_rows(candidates: list[dict], records: list[dict], require_thinking: bool = True
                   ) -> tuple[list[dict], Counter]:
    """Training rows ``{id, question, completion, answer}`` from the teacher's answers (one per candidate: ``id``,
    ``text``, ``finish_reason``) and the count per reason (:data:`REASONS`, plus ``no thinking``)."""
    by_id = {it["id"]: it for it in candidates}
    answered = Counter(r["id"] for r in records)
    missing = [i for i in by_id if i not in answered]
    unknown = [i for i in answered if i not in by_id]
    repeated = [i for i, n in answered.items() if n > 1]
    if missing or unknown or repeated:
        raise ValueError(f"teacher answers do not match the candidates one to one: {len(missing)} unanswered "
                         f"{missing[:3]}, {len(unknown)} unknown {unknown[:3]}, {len(repeated)} answered twice "
                         f"{repeated[:3]}")
    rows, counts = [], Counter()
    for r in records:
        item = by_id[r["id"]]
        thinking, final = split_thinking(r["text"])
        if r.get("finish_reason", "stop") == "length":
            counts["truncated"] += 1
            continue
        if not thinking and require_thinking:  # none, or an empty block
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


# ---- the workflow's three jobs: candidates, one teacher job per shard, merge -----------------------------------

def read_candidates(path: str | Path) -> list[dict]:
    """Candidates written by :func:`candidates_stage`, each checked (a bad row is named by file and line)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, row in parse_json_lines(fh, path):
            bad = [k for k in ("id", "question", "gold") if not isinstance(row.get(k), str)]
            if bad or not isinstance(row.get("options"), list) or row["gold"] not in "ABCDE"[:len(row["options"])]:
                raise ValueError(f"{path}:{lineno}: not a logic candidate (fields {bad or ['options', 'gold']})")
            rows.append(row)
    return rows


def candidates_stage(stage, evaluation_files: list[str], out: str) -> None:
    """``logic-candidates``: the merged raw splits less the held-out items (``out``), checked against the
    evaluation's own test files (``evaluation_files``, the prepared benchmark records), with the counts and the
    sha256 of every raw file in ``<out>.summary.json``."""
    files = raw_files(stage.raw_dir)
    items = [it for (source, split), path in files.items() for it in read_split(source, split, path)]
    evaluation = {Path(f).name.split(".")[0]: [r["question"] for r in read_jsonl(f, ("question",))]
                  for f in evaluation_files}
    candidates, counts = logic_candidates(items, [q for qs in evaluation.values() for q in qs], stage.logic.splits)
    assert_no_evaluation_items(candidates, evaluation)
    if len(candidates) < stage.logic.shards:
        raise ValueError(f"{len(candidates)} logic candidates for config key 'logic_data.shards' = "
                         f"{stage.logic.shards}: fewer shards than that. Counts: {dict(counts)}")
    log.info("logic candidates: %s", dict(counts))
    write_jsonl(out, candidates)
    write_summary(f"{out}.summary.json", {"counts": dict(counts), "evaluation_checked": sorted(evaluation)},
                  [*files.values(), *evaluation_files])


def resolve_teacher(teacher: str) -> str:
    """A checkpoint directory as given, or ``<hub id>@<revision>`` from the Hugging Face cache (prefetched; jobs
    read it offline)."""
    if Path(teacher).is_dir():
        return teacher
    repo, _, revision = teacher.partition("@")
    if not revision:
        raise ValueError(f"logic teacher {teacher!r}: neither a checkpoint directory nor <hub id>@<revision>")
    from huggingface_hub import snapshot_download

    return snapshot_download(repo, revision=revision)


def distill_stage(stage, teacher: str, candidates: str, shard: int, shards: int, out: str) -> None:
    """``logic-distill``: the teacher's answer to each candidate of shard ``shard`` of ``shards`` (generation
    records, through the evaluation's backends: vLLM with tensor parallelism on a cluster, transformers on CPU)."""
    from transformers import AutoTokenizer

    from ..training import checkpoint_sha256  # torch: only in the job that generates

    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not within 0..{shards - 1}")
    logic, teacher = stage.logic, resolve_teacher(teacher)
    mine = read_candidates(candidates)[shard::shards]
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    template = logic.prompt_template or PROMPT_TEMPLATE
    prompts = [prompt_text(tokenizer, teacher_prompt(it, template), logic.system_prompt) for it in mine]
    too_long = [it["id"] for it, p in zip(mine, prompts, strict=True)
                if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > logic.max_prompt_tokens]
    if too_long:
        raise ValueError(f"{len(too_long)} logic prompts longer than {logic.max_prompt_tokens} tokens (config key "
                         f"'logic_data.max_prompt_tokens'): {too_long[:5]}")
    protocol = Protocol("logic-teacher", temperature=logic.temperature, top_p=logic.top_p, n=1, top_k=logic.top_k)
    ids, checkpoint = [it["id"] for it in mine], checkpoint_sha256(teacher)
    if stage.backend == "vllm":
        (records,) = generate_vllm(teacher, [(prompts, ids, logic.max_new_tokens)], protocol, stage.seed, checkpoint,
                                   logic.teacher.tensor_parallel)
    else:
        records = generate_transformers(teacher, prompts, ids, protocol, logic.max_new_tokens, stage.batch_size,
                                        stage.seed, checkpoint, device=job_device(logic.teacher.gpus),
                                        bf16=stage.bf16)
    write_jsonl(out, [{"id": r["prompt_id"], "text": r["text"], "finish_reason": r["finish_reason"],
                       "completion_tokens": r["completion_tokens"], "checkpoint_sha256": r["checkpoint_sha256"]}
                      for r in records])


def merge_stage(stage, candidates: str, shard_files: list[str], out: str, summary_out: str) -> None:
    """``logic-merge``: the kept answers as the logic training set and Table 12's summary (candidate counts, the
    count per reason, the paper's counts), the counts checked against ``logic_data.expected``."""
    items = read_candidates(candidates)
    records = [r for path in shard_files for r in read_generated(path)]
    rows, counts = distilled_rows(items, records, stage.logic.require_thinking)
    check_yield("the logic set (teacher answers on the gold option)", counts["kept"], stage.logic.min_kept,
                {reason: counts[reason] for reason in (*REASONS, "no thinking")}, "logic_data.min_kept")
    counts.update(read_json(f"{candidates}.summary.json")["counts"])
    check_counts(counts, stage.logic.expected)
    write_jsonl(out, rows)
    write_summary(summary_out, {"domain": "logic", "source": "LogiQA 2.0 and ReClor answered by "
                                f"{stage.logic.teacher.model}, kept on the gold option", "kept": counts["kept"],
                                "counts": dict(counts), "paper": PAPER_COUNTS}, [candidates, *shard_files])
