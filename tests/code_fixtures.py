"""Code benchmark files in their release formats (HumanEval+/MBPP+ jsonl.gz of evalplus, BigCodeBench v0.1.4 jsonl,
LiveCodeBench code_generation_lite jsonl). The real sets are not needed: these have the real row counts,
fields and encodings, with small generated tasks."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib
from pathlib import Path


def _gz_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    return path


def humaneval_plus_rows(n: int = 164) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append({
            "task_id": f"HumanEval/{i}", "entry_point": f"add_{i}",
            "prompt": f'def add_{i}(x: int) -> int:\n    """Return x plus {i}.\n'
                      f'    >>> add_{i}(1)\n    {1 + i}\n    """\n',
            "canonical_solution": f"    return x + {i}\n", "contract": "\n    assert isinstance(x, int)\n",
            "base_input": [[1], [2]], "plus_input": [[-5], [10 ** 9]], "atol": 0,
        })
    rows[1] = {  # a float task: evalplus compares with atol
        "task_id": "HumanEval/1", "entry_point": "mean", "prompt": 'def mean(xs: list) -> float:\n    """Mean."""\n',
        "canonical_solution": "    return sum(xs) / len(xs)\n", "contract": "", "atol": 1e-6,
        "base_input": [[[1.0, 2.0]], [[0.1, 0.2, 0.3]]], "plus_input": [[[1e-9, 3.0, 7.5]]],
    }
    return rows


def mbpp_plus_rows(n: int = 378) -> list[dict]:
    rows = []
    for i in range(n):
        task_id = f"Mbpp/{1000 + i}"  # ids beyond the real set: evalplus re-types the inputs of some real ids
        rows.append({
            "task_id": task_id, "entry_point": f"twice_{i}",
            "prompt": f'"""\nWrite a function that doubles a number.\nassert twice_{i}(2) == 4\n"""\n',
            "canonical_solution": f"def twice_{i}(x):\n    return 2 * x\n", "contract": "", "atol": 0,
            "base_input": [[2], [0]], "plus_input": [[-3], [12345]], "assertion": f"assert twice_{i}(2) == 4",
        })
    rows[0] = {  # a real id whose inputs evalplus deserializes: Mbpp/252 inputs are complex numbers
        "task_id": "Mbpp/252", "entry_point": "convert", "contract": "", "atol": 0,
        "prompt": '"""\nWrite a python function to convert complex numbers to polar coordinates.\n'
                  'assert convert(1) == (1.0, 0.0)\n"""\n',
        "canonical_solution": "import cmath\ndef convert(numbers):\n    return cmath.polar(numbers)\n",
        "base_input": [[1], [4]], "plus_input": [[7]], "assertion": "assert convert(1) == (1.0, 0.0)",
    }
    return rows


def bigcodebench_rows(n: int = 1140) -> list[dict]:
    rows = []
    for i in range(n):
        test = ("import unittest\n\nclass TestCases(unittest.TestCase):\n"
                "    def test_value(self):\n        self.assertEqual(task_func([3, 1, 2]), [1, 2, 3])\n"
                "    def test_empty(self):\n        self.assertEqual(task_func([]), [])\n")
        rows.append({
            "task_id": f"BigCodeBench/{i}", "entry_point": "task_func", "libs": "['collections']",
            "complete_prompt": "import collections\n\ndef task_func(xs):\n    \"\"\"Sort xs.\"\"\"\n",
            "instruct_prompt": "Sort a list of numbers ascending.\nYou should write self-contained code starting with:"
                               "\n```\nimport collections\ndef task_func(xs):\n```",
            "canonical_solution": "    return sorted(xs)\n", "code_prompt": "import collections\ndef task_func(xs):\n",
            "test": test, "doc_struct": "{}",
        })
    return rows


def _private(tests: list[dict], compressed: bool) -> str:
    text = json.dumps(tests)
    return base64.b64encode(zlib.compress(pickle.dumps(text))).decode() if compressed else text


def livecodebench_rows(n: int = 1055) -> list[dict]:
    rows = []
    for i in range(n):
        functional = i % 2 == 1
        if functional:
            public = [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}]
            private = [{"input": "[3, 3]\n6", "output": "[0, 1]", "testtype": "functional"},
                       {"input": "[1, 5, 4]\n9", "output": "[1, 2]", "testtype": "functional"}]
            starter = "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        "
            meta = {"func_name": "twoSum"}
        else:
            public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
            private = [{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"},
                       {"input": "1000000000 1000000000\n", "output": "2000000000\n", "testtype": "stdin"}]
            starter, meta = "", {}
        rows.append({
            "question_title": f"problem {i}", "question_content": "Add two integers read from one line." if not
            functional else "Return the indices of the two numbers that add up to target.",
            "platform": "leetcode" if functional else "atcoder", "question_id": f"q{i}", "contest_id": f"c{i // 4}",
            "contest_date": "2024-08-01T00:00:00", "starter_code": starter, "difficulty": "easy",
            "public_test_cases": json.dumps(public), "private_test_cases": _private(private, compressed=i % 4 < 2),
            "metadata": json.dumps(meta),
        })
    return rows


def write_code_benchmarks(directory: Path) -> Path:
    """All four code sets under their release file names; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    _gz_jsonl(directory / "HumanEvalPlus-v0.1.10.jsonl.gz", humaneval_plus_rows())
    _gz_jsonl(directory / "MbppPlus-v0.2.0.jsonl.gz", mbpp_plus_rows())
    (directory / "BigCodeBench-v0.1.4.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bigcodebench_rows()))
    (directory / "livecodebench_release_v6.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in livecodebench_rows()))
    return directory


# Completions of the kinds a model writes: fenced code, inside <answer> for the tagged Qwen prompt.
def fenced(code: str, tagged: bool = True) -> str:
    body = f"```python\n{code.strip()}\n```"
    return f"<think>easy</think>\n<answer>\n{body}\n</answer>" if tagged else f"Here it is:\n{body}\nDone."
