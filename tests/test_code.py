"""Code benchmarks: loaders in the release formats, the judges (evalplus, bigcodebench, the LiveCodeBench judge) run
per sample in the sandbox, code extraction, and score records with pass@k."""

import hashlib
import json
import os
from pathlib import Path

import pytest
from code_fixtures import (
    bigcodebench_rows,
    fenced,
    humaneval_plus_rows,
    livecodebench_rows,
    mbpp_plus_rows,
    write_code_benchmarks,
)
from conftest import eval_stage

from weakdriven.benchmarks import BENCHMARKS, load_benchmark
from weakdriven.eval.code import extract_code, judge_many, judge_sample, unpack_task
from weakdriven.eval.generation import Protocol
from weakdriven.eval.pipeline import score_records

CODE = ("HumanEval+", "MBPP+", "BigCodeBench", "LiveCodeBench")
CODE_EVAL = {"workers": 2, "timeout_s": 20, "test_timeout_s": 3, "memory_mb": 4096, "isolation": "bwrap"}


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory):
    return write_code_benchmarks(tmp_path_factory.mktemp("code-benchmarks"))


@pytest.fixture(scope="module")
def loaded(code_dir):
    return {name: load_benchmark(name, code_dir) for name in CODE}


def task(loaded, name, i):
    row = loaded[name][i]
    return unpack_task(row["task"], row["id"])


def test_every_code_benchmark_names_its_release_and_loads_its_row_count(loaded):
    for name, count in (("HumanEval+", 164), ("MBPP+", 378), ("BigCodeBench", 1140), ("LiveCodeBench", 1055)):
        bench = BENCHMARKS[name]
        assert bench.kind == "code" and bench.domain == "code" and bench.rows == count
        assert bench.source.kind in ("hf", "url") and bench.source.revision  # where a cluster fetches it, pinned
        rows = loaded[name]
        assert len(rows) == count and len({r["id"] for r in rows}) == count
        assert all(r["question"] and r["gold"] for r in rows)
    he = loaded["HumanEval+"][0]
    assert he["question"].startswith("Please provide a self-contained Python script") and "def add_0" in he["question"]
    assert he["gold"] == "HumanEval/0"
    lcb_stdin, lcb_functional = loaded["LiveCodeBench"][0], loaded["LiveCodeBench"][1]
    assert "Read the inputs from stdin" in lcb_stdin["question"]
    assert "starter code" in lcb_functional["question"] and "def twoSum" in lcb_functional["question"]


def test_evalplus_payload_holds_the_canonical_outputs(loaded):
    t = task(loaded, "HumanEval+", 0)
    assert t["judge"] == "evalplus" and t["dataset"] == "humaneval"
    assert t["base"] == [1, 2] and t["plus"] == [-5, 10 ** 9] and len(t["base_time"]) == 2
    mbpp = task(loaded, "MBPP+", 0)  # Mbpp/252: evalplus deserializes its inputs to complex numbers first
    assert mbpp["base_input"] == [[1 + 0j], [4 + 0j]] and mbpp["base"] == [(1.0, 0.0), (4.0, 0.0)]


def test_livecodebench_reads_public_and_compressed_private_tests(loaded):
    plain, compressed = task(loaded, "LiveCodeBench", 2), task(loaded, "LiveCodeBench", 0)  # i % 4 < 2: compressed
    for t in (plain, compressed):
        assert [x["testtype"] for x in t["tests"]] == ["stdin"] * 3
        assert t["tests"][2]["output"] == "2000000000\n"
    assert task(loaded, "LiveCodeBench", 1)["func_name"] == "twoSum"


@pytest.mark.parametrize(("name", "rows", "file", "mutate", "message"), [
    ("HumanEval+", humaneval_plus_rows, "HumanEvalPlus-v0.1.10.jsonl.gz", lambda r: r[5].pop("plus_input"),
     r"row 5 lacks field\(s\) \['plus_input'\]"),
    ("HumanEval+", humaneval_plus_rows, "HumanEvalPlus-v0.1.10.jsonl.gz",
     lambda r: r[7].update(canonical_solution="    return x / 0\n"),
     r"row 7: canonical solution of HumanEval/7 fails: ZeroDivisionError"),
    ("MBPP+", mbpp_plus_rows, "MbppPlus-v0.2.0.jsonl.gz", lambda r: r.pop(), "377 rows, expected 378 for MBPP"),
    ("BigCodeBench", bigcodebench_rows, "BigCodeBench-v0.1.4.jsonl", lambda r: r[3].pop("test"),
     r"row 3 lacks field\(s\) \['test'\]"),
    ("LiveCodeBench", livecodebench_rows, "livecodebench_release_v6.jsonl",
     lambda r: r[4].update(public_test_cases=json.dumps([{"input": "1", "output": "1", "testtype": "web"}])),
     "row 4: test 0: needs string 'input'/'output' and testtype stdin|functional"),
    ("LiveCodeBench", livecodebench_rows, "livecodebench_release_v6.jsonl",
     lambda r: r[9].update(metadata="{}"), "row 9: functional .starter code. problem without metadata.func_name"),
])
def test_bad_code_rows_are_refused_naming_file_and_row(tmp_path, name, rows, file, mutate, message):
    import gzip

    data = rows()
    mutate(data)
    text = "".join(json.dumps(r) + "\n" for r in data)
    path = tmp_path / file
    path.write_bytes(gzip.compress(text.encode()) if file.endswith(".gz") else text.encode())
    with pytest.raises(ValueError, match=message) as err:
        load_benchmark(name, tmp_path)
    assert file in str(err.value)


def test_a_benchmark_file_can_be_given_directly(tmp_path):
    path = write_code_benchmarks(tmp_path) / "BigCodeBench-v0.1.4.jsonl"
    renamed = path.rename(tmp_path / "my-bcb-copy.jsonl")
    assert len(load_benchmark("BigCodeBench", renamed)) == 1140


@pytest.mark.parametrize(("completion", "code"), [
    ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1\n"),
    ("<think>```python\nx = 0\n```</think><answer>```py\ny = 1\n```</answer>", "y = 1\n"),
    ("first\n```\na = 1\n```\nthen\n```python\nb = 2\n```", "b = 2\n"),
    ("def g():\n    return 2", "def g():\n    return 2"),
])
def test_extract_code_takes_the_last_fenced_block_of_the_answer(completion, code):
    assert extract_code(completion) == code


# ---- judges --------------------------------------------------------------------------------------------------------

def test_evalplus_judge_passes_the_canonical_solution_and_fails_wrong_ones(loaded):
    he, mean, mbpp = task(loaded, "HumanEval+", 3), task(loaded, "HumanEval+", 1), task(loaded, "MBPP+", 0)
    right = fenced("def add_3(x: int) -> int:\n    return x + 3")
    base_only = fenced("def add_3(x):\n    return x + 3 if x < 100 else 0")  # passes HumanEval's inputs, not plus
    float_close = fenced("def mean(xs):\n    return sum(x for x in xs) / float(len(xs)) + 1e-12")
    polar = fenced("import cmath\ndef convert(numbers):\n    return cmath.polar(numbers)")
    verdicts = judge_many([he, he, he, mean, mbpp], [right, base_only, fenced("x = 1", tagged=False), float_close,
                                                     polar], workers=2)
    assert verdicts == [(True, None), (False, None), (False, None), (True, None), (True, None)]


def test_bigcodebench_judge_runs_its_unittests(loaded):
    t = task(loaded, "BigCodeBench", 0)
    ok = judge_sample(t, fenced("import collections\ndef task_func(xs):\n    return sorted(xs)"), timeout_s=20)
    wrong = judge_sample(t, fenced("def task_func(xs):\n    return list(xs)"), timeout_s=20)
    hang = judge_sample(t, fenced("def task_func(xs):\n    while True:\n        pass"), timeout_s=3)
    assert ok == (True, None) and wrong == (False, None) and hang[0] is False


def test_livecodebench_judge_runs_stdin_and_functional_tests(loaded):
    stdin, functional = task(loaded, "LiveCodeBench", 0), task(loaded, "LiveCodeBench", 1)
    two_sum = ("class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
               "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
               "                return [seen[target - x], i]\n            seen[x] = i\n")
    cases = [
        (stdin, fenced("a, b = map(int, input().split())\nprint(a + b)"), True),
        (stdin, fenced("a, b = map(int, input().split())\nprint(f'{a + b}.0')"), True),  # equal as decimals
        (stdin, fenced("print(3)"), False),                      # right on the public test only
        (stdin, fenced("import sys\nsys.exit(1)"), False),
        (functional, fenced(two_sum), True),
        (functional, fenced("class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]"), False),
    ]
    verdicts = judge_many([c[0] for c in cases], [c[1] for c in cases], workers=2, test_timeout_s=3)
    assert [v[0] for v in verdicts] == [c[2] for c in cases]
    assert all(err is None for _, err in verdicts)
    slow = judge_sample(stdin, fenced("while True:\n    pass"), test_timeout_s=1)
    assert slow == (False, None)  # the per-test limit is a fail with a verdict, not a grader error


def _tree_fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("attack", [
    "import shutil\n    shutil.rmtree({victim!r}, ignore_errors=True)",
    "open({victim!r} + '/planted.txt', 'w').write('x')",
    "import os\n    os.system('rm -rf ' + {victim!r})",
    "import os\n    os._exit(0)",
    "print('passed')\n    import sys\n    sys.exit(0)",
])
def test_code_samples_cannot_touch_files_outside_or_fake_a_pass(loaded, tmp_path, attack):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("keep me")
    os.chmod(tmp_path, 0o755)
    before = _tree_fingerprint(victim)
    body = attack.format(victim=str(victim))
    he, bcb, lcb = task(loaded, "HumanEval+", 0), task(loaded, "BigCodeBench", 0), task(loaded, "LiveCodeBench", 0)
    samples = [
        (he, fenced(f"def add_0(x):\n    {body}\n    return None")),
        (bcb, fenced(f"def task_func(xs):\n    {body}\n    return None")),
        (lcb, fenced(f"def main():\n    {body}\nmain()")),
    ]
    verdicts = judge_many([s[0] for s in samples], [s[1] for s in samples], workers=3, timeout_s=5)
    assert [v[0] for v in verdicts] == [False, False, False]
    assert _tree_fingerprint(victim) == before and (victim / "data.txt").read_text() == "keep me"


def test_code_scores_have_pass_at_k_and_report_grader_errors(loaded):
    rows = [loaded["HumanEval+"][i] for i in (0, 2, 3)]  # add_0, add_2, add_3
    right = [fenced(f"def add_{i}(x):\n    return x + {i}") for i in (0, 2, 3)]
    wrong = [fenced(f"def add_{i}(x):\n    return x - 1") for i in (0, 2, 3)]
    gens = []
    for i, row in enumerate(rows):  # two samples per prompt: prompt 0 both right, 1 one right, 2 none
        texts = [right[i], right[i]] if i == 0 else [right[i], wrong[i]] if i == 1 else [wrong[i], wrong[i]]
        gens += [{"prompt_id": row["id"], "sample_index": s, "text": t, "finish_reason": "stop",
                  "protocol": "two", "checkpoint_sha256": "abc"} for s, t in enumerate(texts)]
    two = {"protocol": "two", "protocols": {"two": Protocol("two", temperature=0.7, top_p=0.95, n=2)}}
    scored = score_records("HumanEval+", rows, gens, eval_stage(code=CODE_EVAL, **two).evaluation, "gens.jsonl")
    assert scored["n"] == 6 and scored["correct"] == 3 and scored["accuracy"] == pytest.approx(0.5)
    assert scored["samples_per_prompt"] == 2 and scored["pass_at_k"] == {"1": pytest.approx(0.5)}
    assert scored["grader_errors"] == 0

    broken = [dict(r, task="bm90IGEgcGlja2xl") for r in rows]
    with pytest.raises(ValueError, match=r"gens.jsonl: benchmark row HumanEval\+-0: the code task payload"):
        score_records("HumanEval+", broken, gens, eval_stage(code=CODE_EVAL, **two).evaluation, "gens.jsonl")
