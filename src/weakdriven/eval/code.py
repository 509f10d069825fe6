"""Code benchmarks: task records from the benchmark files, code extraction from a completion, and one judge per
benchmark family, each run per sample inside the sandbox (``eval/sandbox.py``).

- HumanEval+ / MBPP+: evalplus's own differential test (``evalplus.eval.untrusted_check`` on the base and plus
  inputs against the canonical solution's outputs, which are computed once when the benchmark is prepared).
- BigCodeBench: bigcodebench's own unittest runner (``bigcodebench.eval.untrusted_check``), i.e. its ``local``
  execution, never the remote service.
- LiveCodeBench: its official runner is not on PyPI, so the judge is written here after it: every test in its own
  process (a stdin/stdout program, or a ``Solution().<func_name>(*args)`` call for functional tests), a per-test
  time limit (6 s as in LCB), stop at the first failure, lines compared stripped and, failing that, as decimals.

A sample passes only if its judge ran to its end: the judge prints a per-sample random marker, read from its stdin
after the sample's own process has finished, in front of its verdict. The sandbox (no network, read-only view,
private /tmp, limits) holds the judge and the sample; the libraries' per-sample processes and guards run inside it.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

from .sandbox import resolve_isolation, run_sandboxed

JUDGES = ("evalplus", "bigcodebench", "livecodebench")

FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def extract_code(completion: str) -> str:
    """The program a completion gives: the last fenced code block of its <answer> (if any, else of the whole text);
    the text itself if it has no fenced block."""
    answers = _ANSWER.findall(completion)
    scope = answers[-1] if answers else completion
    blocks = FENCE.findall(scope) or FENCE.findall(completion)
    return blocks[-1] if blocks else scope.strip()


def solution_code(task: dict, completion: str) -> str:
    """The code the judge runs: evalplus and bigcodebench keep the entry point and what it depends on (their own
    tree-sitter sanitizers); LiveCodeBench programs run whole."""
    code = extract_code(completion)
    if task["judge"] == "evalplus":
        from evalplus.sanitize import sanitize

        return sanitize(code, task["entry_point"])
    if task["judge"] == "bigcodebench":
        from bigcodebench.sanitize import sanitize

        return sanitize(code, task["entry_point"])
    return code


# ---- task payloads (written by prepare-benchmark, one per row, base64 pickle: inputs may be tuples/sets/complex)


def pack_task(task: dict) -> str:
    return base64.b64encode(pickle.dumps(task, protocol=4)).decode("ascii")


def unpack_task(blob: str, where: str) -> dict:
    try:
        task = pickle.loads(base64.b64decode(blob))
    except Exception as err:
        raise ValueError(f"{where}: the code task payload does not decode ({type(err).__name__})") from None
    if not isinstance(task, dict) or task.get("judge") not in JUDGES:
        raise ValueError(f"{where}: the code task payload names no judge of {JUDGES}")
    return task


def evalplus_task(problem: dict, dataset: str) -> dict:
    """An evalplus problem -> its judge payload with the canonical solution's outputs (and run times, from which
    evalplus sets each input's time limit), computed as evalplus's own ground-truth step does."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec

    not_none = dataset == "mbpp" and problem["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
    code = problem["prompt"] + problem["canonical_solution"]
    task = {"judge": "evalplus", "dataset": dataset, "task_id": problem["task_id"],
            "entry_point": problem["entry_point"], "atol": problem["atol"]}
    for part in ("base", "plus"):
        inputs = problem[f"{part}_input"]
        task[f"{part}_input"] = inputs
        task[part], task[f"{part}_time"] = trusted_exec(code, inputs, problem["entry_point"], record_time=True,
                                                        output_not_none=not_none)
    return task


def livecodebench_tests(row: dict) -> list[dict]:
    """Public + private tests of a LiveCodeBench row; private tests are JSON or, in later releases,
    base64(zlib(pickle(JSON))) as the official loader reads them."""
    import zlib

    public = json.loads(row["public_test_cases"])
    private_raw = row["private_test_cases"]
    try:
        private = json.loads(private_raw)
    except json.JSONDecodeError:
        private = json.loads(pickle.loads(zlib.decompress(base64.b64decode(private_raw.encode("ascii")))))
    tests = [*public, *private]
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or t.get("testtype") not in ("stdin", "functional") or \
                not isinstance(t.get("input"), str) or not isinstance(t.get("output"), str):
            raise ValueError(f"test {i}: needs string 'input'/'output' and testtype stdin|functional")
    if not tests:
        raise ValueError("no test cases")
    return [{"input": t["input"], "output": t["output"], "testtype": t["testtype"]} for t in tests]


# ---- judges: Python program texts run in the sandbox; the payload arrives on stdin, the marker after it

_PROLOGUE = """
import base64, json, pickle, sys
task = pickle.loads(base64.b64decode(sys.stdin.readline()))
solution = task["solution"]
"""

_EPILOGUE = """
marker = sys.stdin.readline().strip()
print(marker, json.dumps(verdict), flush=True)
"""

_EVALPLUS = """
from evalplus.eval import PASS, untrusted_check
verdict = {}
for part in ("base", "plus"):
    status, _ = untrusted_check(task["dataset"], solution, task[part + "_input"], task["entry_point"],
                                expected=task[part], atol=task["atol"], ref_time=task[part + "_time"],
                                fast_check=True)
    verdict[part] = status
    if status != PASS:
        break
verdict["passed"] = all(verdict.get(p) == PASS for p in ("base", "plus"))
"""

_BIGCODEBENCH = """
import bigcodebench.eval as bcb
bcb.TIMEOUT_LIMIT = task["timeout_s"]   # its per-task limit (240 s by default); its env override crashes on a str
status, details = bcb.untrusted_check(solution, task["test"], task["entry_point"], task["memory_mb"],
                                      task["memory_mb"], 10, min_time_limit=1, gt_time_limit=task["timeout_s"])
verdict = {"status": status, "failed": sorted(details)[:10], "passed": status == bcb.PASS}
"""

_LIVECODEBENCH = r"""
import subprocess
from decimal import Decimal, InvalidOperation

CALL = '''
import json, sys
args = [json.loads(line) for line in sys.stdin.read().splitlines() if line.strip()]
print(json.dumps(Solution().%s(*args)))
'''

def decimals(line):
    try:
        return [Decimal(tok) for tok in line.split()]
    except InvalidOperation:
        return None

def same_stdout(got, want):
    got_lines = [line.strip() for line in got.strip().splitlines()]
    want_lines = [line.strip() for line in want.strip().splitlines()]
    if len(got_lines) != len(want_lines):
        return False
    for g, w in zip(got_lines, want_lines):
        if g != w and (decimals(g) is None or decimals(g) != decimals(w)):
            return False
    return True

def same_value(got, want):
    try:
        return json.loads(got) == json.loads(want)
    except json.JSONDecodeError:
        return False

verdict = {"passed": True, "tests": len(task["tests"]), "ran": 0}
for i, test in enumerate(task["tests"]):
    program = solution if test["testtype"] == "stdin" else \
        "from typing import *\nimport collections, heapq, itertools, math, bisect\n" + solution + \
        CALL % task["func_name"]
    with open("solution.py", "w") as fh:
        fh.write(program)
    try:
        # the program's output goes to a file (the sandbox's file-size limit stops a flood), not into the judge's
        # memory, which a program printing gigabytes would exhaust before the time limit
        with open("stdout.txt", "w") as out:
            proc = subprocess.run([sys.executable, "-I", "solution.py"], input=test["input"], stdout=out,
                                  stderr=subprocess.DEVNULL, text=True, timeout=task["test_timeout_s"])
        with open("stdout.txt", errors="replace") as out:
            got = out.read()
        ok = proc.returncode == 0 and (same_stdout(got, test["output"]) if test["testtype"] == "stdin"
                                       else same_value(got, test["output"]))
        reason = "wrong answer" if proc.returncode == 0 else "runtime error"
    except subprocess.TimeoutExpired:
        ok, reason = False, "time limit"
    verdict["ran"] = i + 1
    if not ok:
        verdict.update(passed=False, failed_test=i, reason=reason)
        break
"""

_PROGRAMS = {"evalplus": _EVALPLUS, "bigcodebench": _BIGCODEBENCH, "livecodebench": _LIVECODEBENCH}


def judge_program(judge: str) -> str:
    return _PROLOGUE + _PROGRAMS[judge] + _EPILOGUE


def judge_sample(task: dict, completion: str, *, timeout_s: float = 60.0, memory_mb: int = 4096,
                 isolation: str = "bwrap", test_timeout_s: float = 6.0) -> tuple[bool, str | None]:
    """(passed, error) of one completion on one code task. ``error`` is None when the judge gave a verdict (pass or
    fail), else why there is none (the judge crashed, ran out of time, or its output lacks the marker): a grader
    error, which fails the score job beyond ``evaluation.max_grader_errors``. A sandbox that cannot start raises
    ``SandboxUnavailable``."""

    try:
        solution = solution_code(task, completion)
    except ImportError:  # a judge library missing from the environment: the job's fault, not the sample's
        raise
    except Exception:  # the sanitizer gave up on the sample's text: no program to run, a fail
        return False, None
    verdict, error = run_judge(task, solution, timeout_s=timeout_s, memory_mb=memory_mb, isolation=isolation,
                               test_timeout_s=test_timeout_s)
    return (bool(verdict["passed"]), None) if verdict is not None else (False, error)


def run_judge(task: dict, solution: str, *, timeout_s: float, memory_mb: int, isolation: str,
              test_timeout_s: float) -> tuple[dict | None, str | None]:
    """(verdict, None) of the task's judge on the program ``solution`` (the verdict holds ``passed`` and the judge's
    details, e.g. LiveCodeBench's ``reason``), or (None, why there is none)."""
    payload = dict(task, solution=solution, timeout_s=timeout_s, memory_mb=memory_mb, test_timeout_s=test_timeout_s)
    marker = secrets.token_hex(16)
    # the judge's wall clock: evalplus/bigcodebench stop a sample at timeout_s; LCB runs each test to its limit at most
    wall = 30 + (len(task["tests"]) * (test_timeout_s + 1) if task["judge"] == "livecodebench" else timeout_s)
    # BigCodeBench tasks import ~70 libraries: the code container has them in their own interpreter (/opt/bcb)
    python = os.environ.get("WEAKDRIVEN_BCB_PYTHON") if task["judge"] == "bigcodebench" else None
    result = run_sandboxed(judge_program(task["judge"]), timeout_s=wall, memory_mb=memory_mb,
                           stdin=f"{pack_task(payload)}\n{marker}\n", isolation=isolation, max_processes=64,
                           python=python)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(marker + " "):
            return json.loads(line[len(marker) + 1:]), None
    if result.timed_out:
        return None, "judge timed out"
    return None, f"judge gave no verdict (return code {result.returncode}): {result.stderr.strip()[-300:]}"


def judge_many(tasks: list[dict], completions: list[str], workers: int, **kwargs) -> list[tuple[bool, str | None]]:
    """Verdicts of many samples; ``workers`` sandboxes at a time (each waits on its own processes)."""

    kwargs["isolation"] = resolve_isolation(kwargs.get("isolation", "auto"))  # once, before any sample
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda tc: judge_sample(tc[0], tc[1], **kwargs), zip(tasks, completions, strict=True)))
