"""The code training set (App. E.2): AM code rows in the hub's layout (zstd JSON Lines, tests in the user turn's
``info.test_case``, as JSON text or as an object), the final program run against its tests in the sandbox, counts per
reason, shards, and a sandbox that cannot start failing the job."""

import json

import pytest
import zstandard
from test_isolation import failing_bwrap  # noqa: F401  (a fixture: a bwrap that cannot create namespaces)

from weakdriven.checks import LowYield
from weakdriven.data.am import am_files, iter_am_rows
from weakdriven.data.am_code import code_candidates, entry_point, final_program, parse_tests, verify_shard
from weakdriven.eval.sandbox import SandboxUnavailable


def am_row(source, answer, test_case, think="Let me write it."):
    """One row as the hub stores it: tests beside the source in the user turn's info, the answer in tags."""
    return {"messages": [
        {"role": "user", "content": f"Task from {source}.",
         "info": {"source": source, "reference_answer": None, "test_case": test_case}},
        {"role": "assistant", "content": f"<think>\n{think}\n</think>\n<answer>\n{answer}\n</answer>",
         "info": {"source": "am-0309", "think_content": think, "answer_content": answer}}]}


def py(code):
    return f"Here is the program.\n```python\n{code}\n```"


ADD = "def helper(x):\n    return x\n\ndef add(a, b):\n    return helper(a) + b"
CALL_TESTS = json.dumps({"inputs": [{"a": 1, "b": 2}, {"a": 0.1, "b": 0.2}], "outputs": [{"output": 3},
                                                                                         {"output": 0.3}]})
ROWS = [  # (expected reason, row)
    ("not a code source", {"messages": [{"role": "user", "content": "1+1?", "info": {"source": "MATH",
                                                                                    "reference_answer": "2"}},
                                        {"role": "assistant", "content": "<think>x</think><answer>2</answer>"}]}),
    ("kept", am_row("codeio", py(ADD), CALL_TESTS)),  # the function taking a and b, not the first one
    ("failed", am_row("codeio", py("def add(a, b):\n    return a - b"), CALL_TESTS)),
    ("kept", am_row("OpenCoder", py("def double(x):\n    return 2 * x"),
                    ["assert double(3) == 6", "assert double(0) == 0"])),  # an object, not JSON text
    ("failed", am_row("OpenCoderStage2", py("def double(x):\n    return x + 2"),
                      json.dumps({"testcase": ["assert double(3) == 6"]}))),
    ("kept", am_row("prime", py("n = int(input())\nprint(n * n)"),
                    {"ground_truth": json.dumps({"inputs": ["3\n", "4\n"], "outputs": ["9\n", "16"]})})),
    ("timed out", am_row("prime", py("while True:\n    pass"),
                         {"ground_truth": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})})),
    ("failed", am_row("OpenCoder", py("import os\nos._exit(0)\ndef f():\n    pass"), ["assert f() == 1"])),
    ("failed", am_row("prime", py("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"),  # an output flood
                      {"ground_truth": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})})),
    ("no code block", am_row("codeio", "Use a loop.", CALL_TESTS)),
    ("no tests", am_row("OpenCoder", py("x = 1"), None)),
    ("unreadable tests", am_row("codeio", py("x = 1"), "{not json")),
    ("bad format", {"messages": [{"role": "user", "content": "t", "info": {"source": "prime", "test_case": "[]"}},
                                 {"role": "assistant", "content": "no tags here"}]}),
    ("bad messages", {"messages": [{"role": "user", "content": "t", "info": {"source": "codeio"}}]}),
]


def write_hub_layout(root, rows):
    """``am_0.5M.jsonl.zst`` as the hub ships it (zstd JSON Lines)."""
    root.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (root / "am_0.5M.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    return root


def test_the_code_rows_from_the_hub_layout_are_run_against_their_tests_with_counts_per_reason(tmp_path):
    root = write_hub_layout(tmp_path / "am", [row for _, row in ROWS])
    rows = iter_am_rows(am_files("local", path=str(root), subsets=["am_0.5M"]))
    candidates, counts = code_candidates(rows)
    assert dict(counts) == {"not a code source": 1, "no code block": 1, "no tests": 1, "unreadable tests": 1,
                            "bad format": 1, "bad messages": 1}
    assert len(candidates) == 8 and candidates[0]["id"] == "am_0.5M-2"
    kept, reasons, by_source = verify_shard(candidates, 0, 1, workers=2, timeout_s=3, memory_mb=1024)
    assert dict(reasons) == {"kept": 3, "failed": 4, "timed out": 1}
    assert by_source == {"codeio": 1, "OpenCoder": 1, "prime": 1}
    assert [r["id"] for r in kept] == ["am_0.5M-2", "am_0.5M-4", "am_0.5M-6"]
    first = kept[0]
    assert first["question"] == "Task from codeio." and first["completion"].startswith("<think>\nLet me write it.")
    assert first["completion"].endswith("</answer>") and first["answer"] == "" and first["tests"]["kind"] == "call"
    # the shards partition the candidates: together they keep what one job keeps
    parts = [verify_shard(candidates, i, 3, workers=1, timeout_s=3, memory_mb=1024) for i in range(3)]
    assert sorted(r["id"] for p in parts for r in p[0]) == [r["id"] for r in kept]
    assert sum((p[1] for p in parts), start=type(reasons)()) == reasons
    with pytest.raises(ValueError, match="shard 3 is not within 0..2"):
        verify_shard(candidates, 3, 3, workers=1)


def test_a_sandbox_that_cannot_start_fails_the_job_instead_of_dropping_rows(failing_bwrap, tmp_path):  # noqa: F811
    candidates, _ = code_candidates([("r-0", ROWS[1][1]), ("r-1", ROWS[3][1])])
    with pytest.raises(SandboxUnavailable, match="code_data.isolation"):
        verify_shard(candidates, 0, 1, workers=2, timeout_s=3, isolation="bwrap")


@pytest.mark.parametrize("test_case, kind, n", [
    ('{"inputs": [{"s": "ab"}], "outputs": [{"output": "ba"}]}', "call", 1),
    (["assert f(1) == 2", "assert f(2) == 3"], "asserts", 2),
    ({"testcase": ["assert g() is None"]}, "asserts", 1),
    ({"ground_truth": {"inputs": ["1\n", "2\n"], "outputs": ["1", "4"]}}, "stdio", 2),
])
def test_the_three_test_shapes_are_recognised_as_text_or_object(test_case, kind, n):
    tests = parse_tests(test_case)
    assert tests["kind"] == kind and len(tests["cases"]) == n
    assert parse_tests(json.dumps(test_case) if not isinstance(test_case, str) else test_case) == tests


@pytest.mark.parametrize("test_case, message", [
    ("{nope", "not JSON"),
    ({"inputs": [{"a": 1}], "outputs": []}, "none of inputs/outputs, ground_truth, testcase"),
    ({"ground_truth": '{"inputs": ["1"], "outputs": ["1", "2"]}'}, "equally long"),
    ([], "non-empty strings"),
    (3, "'int' is not a list or an object"),
])
def test_unreadable_tests_are_named(test_case, message):
    with pytest.raises(ValueError, match=message):
        parse_tests(test_case)


def test_the_final_program_joins_the_fenced_blocks_or_takes_the_last():
    answer = "First:\n```python\nimport math\n```\nThen:\n```py\ndef f():\n    return math.pi\n```"
    assert final_program(answer) == "import math\n\ndef f():\n    return math.pi"
    assert final_program(answer, "last") == "def f():\n    return math.pi"
    assert final_program("no code") is None
    with pytest.raises(ValueError, match="code_data.program': 'first' is not one of"):
        final_program(answer, "first")


def test_the_called_function_is_the_one_taking_the_inputs():
    program = "def helper(x):\n    return x\n\ndef solve(a, b=1):\n    return a\n\ndef other(**kw):\n    return kw"
    assert entry_point(program, ["a", "b"]) == "solve"
    assert entry_point(program, ["a"]) == "solve"  # b has a default
    assert entry_point(program, ["z"]) == "other"  # **kwargs takes anything
    assert entry_point("def fib(n):\n    return n\n\ndef main_solution(n, memo=None):\n    return fib(n)", ["n"]) \
        == "main_solution"  # CodeI/O's entry point, not the helper before it
    assert entry_point("def f(:", ["a"]) is None and entry_point("def f(a, b):\n    pass", ["a"]) is None


@pytest.mark.parametrize("body, output, reason", [
    ("return a + b", 0.30000000000000004, "kept"),   # floats within a relative 1e-6
    ("return str(a + b)", 0.3, "failed"),             # a string is not the number
    ("return True", 1, "failed"),                     # nor is a bool
    ("return float('nan')", float("nan"), "kept"),    # NaN is the expected NaN
    ("return (a, [b])", [0.1, [0.2]], "kept"),        # a tuple is its JSON list
])
def test_call_results_compare_as_json_values_with_a_float_tolerance(body, output, reason):
    from weakdriven.data.am_code import verify

    candidate = {"id": "r", "program": f"def main_solution(a, b):\n    {body}",
                 "tests": {"kind": "call", "cases": [{"kwargs": {"a": 0.1, "b": 0.2}, "output": output}]}}
    assert verify(candidate, timeout_s=3, memory_mb=1024, isolation="auto") == reason
    missing = dict(candidate, program="def other(x):\n    return x")
    assert verify(missing, timeout_s=3, memory_mb=1024, isolation="auto") == "no entry point"


def test_the_jobs_write_the_set_in_candidate_order_and_refuse_a_missing_shard_or_another_count(tmp_path):
    from weakdriven.config import CodeData
    from weakdriven.data.am_code import candidates_stage, merge_stage, verify_stage
    from weakdriven.stages import CodeDataStage

    root = write_hub_layout(tmp_path / "am", [row for reason, row in ROWS if reason != "timed out"])
    stage = CodeDataStage({"source": "local", "path": str(root), "subsets": ["am_0.5M"]},
                          CodeData(shards=2, workers=2, timeout_s=3, memory_mb=1024, expected_rows=3))
    stage = CodeDataStage.from_json(stage.to_json())  # as the job reads it
    cand = str(tmp_path / "candidates.jsonl")
    candidates_stage(stage, cand)
    shards = [str(tmp_path / f"verified.shard{i}-of-2.jsonl") for i in range(2)]
    for i, out in enumerate(shards):
        verify_stage(stage, cand, i, 2, out)
    with pytest.raises(ValueError, match="verified 4 programs of 7 candidates"):
        merge_stage(stage, cand, shards[:1], str(tmp_path / "train.jsonl"), str(tmp_path / "code.summary.json"))
    merge_stage(stage, cand, shards, str(tmp_path / "train.jsonl"), str(tmp_path / "code.summary.json"))
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["am_0.5M-2", "am_0.5M-4", "am_0.5M-6"]  # candidate order, not shard order
    summary = json.loads((tmp_path / "code.summary.json").read_text())
    assert summary["domain"] == "code" and summary["kept"] == 3 and summary["counts"]["failed"] == 4
    assert summary["kept_by_source"] == {"codeio": 1, "OpenCoder": 1, "prime": 1}
    assert str(root / "am_0.5M.jsonl.zst") in json.loads((tmp_path / "candidates.jsonl.summary.json").read_text())[
        "inputs"]  # the AM file's sha256 is recorded
    other = CodeDataStage(stage.rows, CodeData(shards=2, expected_rows=19457))
    with pytest.raises(ValueError, match=r"kept 3 rows, config key 'code_data.expected_rows' says 19,457"):
        merge_stage(other, cand, shards, str(tmp_path / "t2.jsonl"), str(tmp_path / "s2.json"))
    assert not (tmp_path / "t2.jsonl").exists()
    # a floor above what survived fails the merge job with every reason's count, even with expected_rows null
    floor = CodeDataStage(stage.rows, CodeData(shards=2, expected_rows=None, min_rows=4))
    with pytest.raises(LowYield, match=r"kept 3, fewer than the minimum of 4 \(config key 'code_data.min_rows'\)\. "
                                       r"Per reason: kept 3, .*failed 4"):
        merge_stage(floor, cand, shards, str(tmp_path / "t3.jsonl"), str(tmp_path / "s3.json"))
    assert not (tmp_path / "t3.jsonl").exists() and not (tmp_path / "s3.json").exists()
