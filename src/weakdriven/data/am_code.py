"""The code training set (App. E.2, Table 12): the code rows of AM-DeepSeek-R1-Distilled-1.4M whose final program
passes the row's own tests, run one sample per sandboxed process.

Code rows are those whose user turn's ``info.source`` is a code source (``CODE_SOURCES``: the sources of the 19,457
rows the authors kept, codeio 15,953, OpenCoder 3,409, OpenCoderStage2 88, prime 7; the card also lists KodCode,
whose tests are not read here). A row's tests are in the user turn's ``info.test_case``, a JSON string or an object
(the card declares it both ways), in one of three shapes, recognised by shape:

* **call** (codeio): ``{"inputs": [{param: value}], "outputs": [{"output": value}]}``: the program's top-level
  function that takes exactly those parameters (the first such) is called with each input; results compare as JSON
  values, floats within a relative 1e-6;
* **asserts** (OpenCoder): a list of ``assert ...`` lines, or ``{"testcase": [...]}``, run after the program in its
  process;
* **stdio** (prime): ``{"ground_truth": <JSON text or object {"inputs": [str], "outputs": [str]}>}``: the program
  reads each input on stdin; its output must equal the expected lines (stripped; numbers as decimals), each test in
  its own process (the LiveCodeBench judge of ``eval/code.py``).

The final program is the answer's fenced Python: every block joined (``program: join``, as the authors' verifier
reads it) or the last one (``last``, as the evaluation does). Per-reason counts: ``not a code source``,
``bad messages``, ``bad format`` (not ``<think>...</think><answer>...</answer>``), ``no tests``, ``unreadable
tests``, ``no code block``, ``failed``, ``timed out``, ``kept``. A sandbox that cannot start raises
``SandboxUnavailable`` and a judge that gives no verdict raises ``RuntimeError``: errors of the job, never a
dropped row. The work is sharded (``shard`` of ``shards`` jobs) and each shard runs ``workers`` sandboxes at once.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ..checks import check_yield, read_json
from ..eval.code import FENCE, run_judge
from ..eval.sandbox import SandboxUnavailable, check_program, resolve_isolation
from ..provenance import write_summary
from .am import PAPER_SUBSETS, am_files, iter_am_rows
from .chat import parse_json_lines, read_jsonl, write_jsonl

log = logging.getLogger(__name__)

CODE_SOURCES = ("codeio", "OpenCoder", "OpenCoderStage2", "prime")
PAPER_COUNTS = {"kept": 19_457}
PAPER_KEPT_BY_SOURCE = {"codeio": 15_953, "OpenCoder": 3_409, "OpenCoderStage2": 88, "prime": 7}
REASONS = ("kept", "not a code source", "bad messages", "bad format", "no tests", "unreadable tests", "no code block",
           "no entry point", "failed", "timed out")
VERIFIED = ("kept", "no entry point", "failed", "timed out")  # the reasons of the verification jobs
PROGRAMS = ("join", "last")
FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>(.*?)</answer>$", re.S)


def parse_tests(test_case) -> dict:
    """``{"kind": "call" | "asserts" | "stdio", "cases": [...]}`` from a row's ``test_case`` (JSON text or object);
    ValueError when it has none of the three shapes."""
    if isinstance(test_case, str):
        try:
            test_case = json.loads(test_case)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON ({err.msg})") from None
    if isinstance(test_case, dict) and "testcase" in test_case:
        test_case = test_case["testcase"]
    if isinstance(test_case, list):
        if not test_case or not all(isinstance(t, str) and t.strip() for t in test_case):
            raise ValueError("an assert list must hold non-empty strings")
        return {"kind": "asserts", "cases": [t.strip() for t in test_case]}
    if not isinstance(test_case, dict):
        raise ValueError(f"{type(test_case).__name__!r} is not a list or an object")
    if "ground_truth" in test_case:
        truth = test_case["ground_truth"]
        if isinstance(truth, str):
            try:
                truth = json.loads(truth)
            except json.JSONDecodeError as err:
                raise ValueError(f"ground_truth is not JSON ({err.msg})") from None
        ins, outs = (truth.get("inputs"), truth.get("outputs")) if isinstance(truth, dict) else (None, None)
        if (not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs) or not ins
                or not all(isinstance(x, str) for x in ins + outs)):
            raise ValueError("ground_truth needs equally long non-empty string lists 'inputs' and 'outputs'")
        return {"kind": "stdio", "cases": [{"input": i, "output": o} for i, o in zip(ins, outs, strict=True)]}
    ins, outs = test_case.get("inputs"), test_case.get("outputs")
    if (isinstance(ins, list) and isinstance(outs, list) and ins and len(ins) == len(outs)
            and all(isinstance(i, dict) for i in ins) and all(isinstance(o, dict) and "output" in o for o in outs)):
        return {"kind": "call", "cases": [{"kwargs": i, "output": o["output"]} for i, o in zip(ins, outs, strict=True)]}
    raise ValueError(f"keys {sorted(test_case)} are none of inputs/outputs, ground_truth, testcase")


def final_program(answer: str, program: str = "join") -> str | None:
    """The program of an answer (the text after the thinking): its fenced Python blocks, joined or the last one;
    None when it has none."""
    if program not in PROGRAMS:
        raise ValueError(f"config key 'code_data.program': {program!r} is not one of {PROGRAMS}")
    blocks = [b.strip("\n") for b in FENCE.findall(answer) if b.strip()]
    if not blocks:
        return None
    return "\n\n".join(blocks) if program == "join" else blocks[-1]


def code_candidates(rows: Iterable[tuple[str, dict]], sources: Iterable[str] = CODE_SOURCES,
                    program: str = "join") -> tuple[list[dict], Counter]:
    """The rows of the code ``sources`` that have a well-formed answer with a program and readable tests, as
    ``{id, source, question, completion, program, tests}``, and the count per reason of the others."""
    sources = set(sources)
    candidates, counts = [], Counter()
    for row_id, row in rows:
        messages = row.get("messages") or []
        info = (messages[0].get("info") or {}) if messages and isinstance(messages[0], dict) else {}
        source = info.get("source")
        if source not in sources:
            counts["not a code source"] += 1
            continue
        if (len(messages) < 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant"
                or not str(messages[0].get("content", "")).strip() or not str(messages[1].get("content", "")).strip()):
            counts["bad messages"] += 1
            continue
        completion = messages[1]["content"].strip()
        m = FORMAT.match(completion)
        if not m:
            counts["bad format"] += 1
            continue
        if info.get("test_case") in (None, "", [], {}):
            counts["no tests"] += 1
            continue
        try:
            tests = parse_tests(info["test_case"])
        except ValueError:
            counts["unreadable tests"] += 1
            continue
        code = final_program(m.group(1), program)
        if code is None:
            counts["no code block"] += 1
            continue
        candidates.append({"id": row_id, "source": source, "question": messages[0]["content"].strip(),
                           "completion": completion, "program": code, "tests": tests})
    return candidates, counts


_CALL = """
import json as _json, math as _math

def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)

def _same(got, want):
    if _number(got) and _number(want) and (isinstance(got, float) or isinstance(want, float)):
        if _math.isnan(want) or _math.isnan(got):
            return _math.isnan(want) and _math.isnan(got)
        return _math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
    if type(got) is not type(want):
        return False
    if isinstance(want, list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    return got == want

for _i, _case in enumerate(_json.loads(%r)):
    _got = _json.loads(_json.dumps(%s(**_case["kwargs"])))
    assert _same(_got, _case["output"]), "case %%d: got %%r" %% (_i, _got)
"""


ENTRY = "main_solution"  # CodeI/O's name for the function its inputs are passed to


def entry_point(program: str, params: Iterable[str]) -> str | None:
    """The top-level function of ``program`` that the inputs ``params`` are passed to: ``main_solution`` if it
    accepts them, else the first function whose parameters are exactly ``params``, else the first that accepts them
    (every required parameter given, every given one a parameter or taken by ``**kwargs``); None if the program does
    not parse or no function accepts them."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    wanted, exact, accepting = set(params), [], []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        positional = a.posonlyargs + a.args
        names = {x.arg for x in positional + a.kwonlyargs}
        required = {x.arg for x in positional[:len(positional) - len(a.defaults)]}
        required |= {x.arg for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None}
        if required <= wanted and (wanted <= names or a.kwarg is not None):
            if node.name == ENTRY:
                return node.name
            (exact if names == wanted else accepting).append(node.name)
    return (exact or accepting or [None])[0]


def verify(candidate: dict, timeout_s: float, memory_mb: int, isolation: str) -> str:
    """``kept``, ``no entry point``, ``failed`` or ``timed out``: the candidate's program against its tests in the
    sandbox."""
    tests, program = candidate["tests"], candidate["program"]
    if tests["kind"] == "stdio":
        task = {"judge": "livecodebench", "func_name": None,
                "tests": [{**c, "testtype": "stdin"} for c in tests["cases"]]}
        verdict, error = run_judge(task, program, timeout_s=timeout_s, memory_mb=memory_mb, isolation=isolation,
                                   test_timeout_s=timeout_s)
        if verdict is None:
            raise RuntimeError(f"row {candidate['id']}: the stdio judge gave no verdict: {error}")
        if verdict["passed"]:
            return "kept"
        return "timed out" if verdict.get("reason") == "time limit" else "failed"
    if tests["kind"] == "asserts":
        body = "\n".join(tests["cases"])
    else:
        name = entry_point(program, tests["cases"][0]["kwargs"])
        if name is None:
            return "no entry point"
        body = _CALL % (json.dumps(tests["cases"]), name)
    passed, result = check_program(program, body, timeout_s=timeout_s, memory_mb=memory_mb, isolation=isolation)
    if passed:
        return "kept"
    return "timed out" if result.timed_out else "failed"


def verify_shard(candidates: list[dict], shard: int, shards: int, workers: int, timeout_s: float = 10.0,
                 memory_mb: int = 2048, isolation: str = "auto") -> tuple[list[dict], Counter, Counter]:
    """Shard ``shard`` of ``shards`` (candidates ``shard::shards``), ``workers`` sandboxes at a time: the training
    rows that passed (``{id, question, completion, answer: "", source, tests}``), the count per reason, and the kept
    count per source."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not within 0..{shards - 1}")
    mine = candidates[shard::shards]
    try:
        isolation = resolve_isolation(isolation)  # once, before any sample: an unusable sandbox fails the job here
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            reasons = list(pool.map(lambda c: verify(c, timeout_s, memory_mb, isolation), mine))
    except SandboxUnavailable as err:
        raise SandboxUnavailable(f"{err} (for the code training set the key is 'code_data.isolation')") from None
    kept = [{"id": c["id"], "question": c["question"], "completion": c["completion"], "answer": "",
             "source": c["source"], "tests": c["tests"]} for c, r in zip(mine, reasons, strict=True) if r == "kept"]
    return kept, Counter(reasons), Counter(row["source"] for row in kept)


# ---- the workflow's three jobs: candidates, one verification per shard, merge ----------------------------------

def _am_sources(stage) -> list:
    rows = stage.rows
    return am_files(rows["source"], rows.get("hub_id"), rows.get("revision"), rows.get("path"),
                    rows.get("subsets", PAPER_SUBSETS))


def candidates_stage(stage, out: str) -> None:
    """``code-candidates``: the code rows with a program and readable tests (``out``) and the counts of the others
    (``<out>.summary.json``, with the sha256 of every AM file read)."""
    files = _am_sources(stage)
    candidates, counts = code_candidates(iter_am_rows(files), stage.code.sources, stage.code.program)
    counts["candidates"] = len(candidates)
    if len(candidates) < stage.code.shards:
        raise ValueError(f"{len(candidates)} code candidates for config key 'code_data.shards' = {stage.code.shards}: "
                         f"fewer shards than that. Counts: {dict(counts)}")
    log.info("AM code rows: %s", dict(counts))
    write_jsonl(out, candidates)
    write_summary(f"{out}.summary.json", {"counts": dict(counts)}, [f for _, f in files])


def read_candidates(path: str) -> list[dict]:
    """Candidates written by :func:`candidates_stage`, each checked (a bad row is named by file and line)."""
    rows = []
    with open(path) as fh:
        for lineno, row in parse_json_lines(fh, path):
            bad = [k for k in ("id", "source", "question", "completion", "program") if not isinstance(row.get(k), str)]
            tests = row.get("tests")
            if bad or not isinstance(tests, dict) or tests.get("kind") not in ("call", "asserts", "stdio") \
                    or not isinstance(tests.get("cases"), list) or not tests["cases"]:
                raise ValueError(f"{path}:{lineno}: not a code candidate (fields {bad or ['tests']})")
            rows.append(row)
    return rows


def verify_stage(stage, candidates: str, shard: int, shards: int, out: str) -> None:
    """``code-verify``: one shard's passing rows (``out``) and counts (``<out>.summary.json``)."""
    c = stage.code
    kept, reasons, by_source = verify_shard(read_candidates(candidates), shard, shards, c.workers, c.timeout_s,
                                            c.memory_mb, c.isolation)
    write_jsonl(out, kept)
    write_summary(f"{out}.summary.json", {"shard": shard, "shards": shards, "counts": dict(reasons),
                                          "kept_by_source": dict(by_source)})


def merge_stage(stage, candidates: str, shard_files: list[str], out: str, summary_out: str) -> None:
    """``code-merge``: the shards' rows in candidate order as the code training set, and Table 12's summary: every
    count (candidate filter and execution), the kept rows per source, the paper's counts; the kept count is checked
    against ``code_data.expected_rows``."""
    first = read_json(f"{candidates}.summary.json")
    counts, by_source, ids = Counter(first["counts"]), Counter(), {}
    for path in shard_files:
        part = read_json(f"{path}.summary.json")
        counts.update(part["counts"])
        by_source.update(part["kept_by_source"])
        rows = list(read_jsonl(path, ("id", "question", "completion", "answer")))
        if len(rows) != part["counts"].get("kept", 0):
            raise ValueError(f"{path}: {len(rows)} rows but its summary counts {part['counts'].get('kept', 0)} kept")
        for row in rows:
            if row["id"] in ids:
                raise ValueError(f"{path}: row {row['id']} is also in another shard")
            ids[row["id"]] = row
    verified = sum(counts[r] for r in VERIFIED)
    if verified != first["counts"]["candidates"]:
        raise ValueError(f"the shards verified {verified} programs of {first['counts']['candidates']} candidates "
                         f"({shard_files}): a shard is missing or stale")
    check_yield("the code set (programs that pass their tests)", counts["kept"], stage.code.min_rows,
                {r: counts[r] for r in REASONS}, "code_data.min_rows")
    expected = stage.code.expected_rows
    if expected is not None and counts["kept"] != expected:
        detail = ", ".join(f"{r} {counts[r]:,}" for r in REASONS)
        raise ValueError(f"the code filter kept {counts['kept']:,} rows, config key 'code_data.expected_rows' says "
                         f"{expected:,}. Per reason: {detail}; kept per source {dict(by_source)} (paper: "
                         f"{PAPER_KEPT_BY_SOURCE}). Set it to null to train on these rows anyway")
    order = [row["id"] for row in read_candidates(candidates)]
    unknown = sorted(set(ids) - set(order))
    if unknown:
        raise ValueError(f"rows {unknown[:5]} of the shards are not candidates of {candidates}: a stale shard")
    write_jsonl(out, [ids[i] for i in order if i in ids])
    write_summary(summary_out, {"domain": "code", "source": "AM-DeepSeek-R1-Distilled-1.4M code rows, run against "
                                "their own tests", "kept": counts["kept"], "counts": dict(counts),
                                "kept_by_source": dict(by_source), "paper": {**PAPER_COUNTS,
                                                                             "kept_by_source": PAPER_KEPT_BY_SOURCE}},
                  [candidates, *shard_files])
