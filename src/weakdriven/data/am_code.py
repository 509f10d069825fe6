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
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ..eval.code import FENCE, run_judge
from ..eval.sandbox import SandboxUnavailable, check_program, resolve_isolation

CODE_SOURCES = ("codeio", "OpenCoder", "OpenCoderStage2", "prime")
PAPER_COUNTS = {"kept": 19_457}
PAPER_KEPT_BY_SOURCE = {"codeio": 15_953, "OpenCoder": 3_409, "OpenCoderStage2": 88, "prime": 7}
REASONS = ("kept", "not a code source", "bad messages", "bad format", "no tests", "unreadable tests", "no code block",
           "failed", "timed out")
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
        raise ValueError(f"config key 'train_data.code.program': {program!r} is not one of {PROGRAMS}")
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

def _same(got, want):
    if isinstance(want, float) or isinstance(got, float):
        try:
            return _math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    return got == want

for _i, _case in enumerate(_json.loads(%r)):
    _got = _json.loads(_json.dumps(%s(**_case["kwargs"])))
    assert _same(_got, _case["output"]), "case %%d: got %%r" %% (_i, _got)
"""


def entry_point(program: str, params: Iterable[str]) -> str | None:
    """The first top-level function of ``program`` whose parameters are exactly ``params`` (None if the program does
    not parse or no function takes them)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    wanted = set(params)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
            if names == wanted or (args.kwarg is not None and wanted >= names):
                return node.name
    return None


def verify(candidate: dict, timeout_s: float, memory_mb: int, isolation: str) -> str:
    """``kept``, ``failed`` or ``timed out``: the candidate's program against its tests in the sandbox."""
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
            return "failed"
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
        raise SandboxUnavailable(f"{err} (the code training set reads config key 'train_data.code.isolation')"
                                 ) from None
    kept = [{"id": c["id"], "question": c["question"], "completion": c["completion"], "answer": "",
             "source": c["source"], "tests": c["tests"]} for c, r in zip(mine, reasons, strict=True) if r == "kept"]
    return kept, Counter(reasons), Counter(row["source"] for row in kept)
