"""Per-domain runs: each benchmark is scored on runs trained on its own domain's set, or on one mixture model; the
generation phases grade an answer by its training row's domain; Table 5 reads the logic runs."""

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import DELETE, mutate
from test_isolation import failing_bwrap  # noqa: F401  (a fixture: a bwrap that cannot create namespaces)

from weakdriven import paths
from weakdriven.config import CodeData, ConfigError, Experiment
from weakdriven.data.chat import Example, load_examples, write_jsonl
from weakdriven.data.mixture import mix_stage, mixed_rows
from weakdriven.eval.sandbox import SandboxUnavailable
from weakdriven.methods.sampling import final_answer, grade
from weakdriven.methods.ssb import hint_pairs, hint_prompt
from weakdriven.tables import TABLES

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


# ---- config ---------------------------------------------------------------------------------------------------------
def test_a_benchmark_is_scored_on_the_runs_of_its_own_domain(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    assert [exp.run_domain(b) for b in ("GSM8K", "HumanEval+", "ReClor")] == ["math", "code", "logic"]
    assert exp.primary_domain == "math"
    mixture = Experiment.from_dict(mutate(mutate(paper_raw, "train_domains", "mixture"), "tables",
                                          {"table1": paper_raw["tables"]["table1"]}))
    assert {mixture.run_domain(b) for b in ("GSM8K", "HumanEval+", "ReClor")} == {"mix"}
    assert mixture.primary_domain == "mix"


def test_table1_and_table5_read_the_code_and_logic_columns_from_runs_of_their_own_domain(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    table1 = TABLES["table1"].needs(exp).paths(exp)["scores"]
    assert "results/paper/eval/qwen3-4b-base/code/seed42/wmss_lam0.5/paper-greedy/HumanEval+.scores.json" in table1
    assert "results/paper/eval/qwen3-4b-base/math/seed42/wmss_lam0.5/paper-greedy/GSM8K.scores.json" in table1
    assert not any("/code/" in p and "GSM8K" in p or "/math/" in p and "MBPP+" in p for p in table1)
    table5 = TABLES["table5"].needs(exp).paths(exp)["scores"]
    assert len(table5) == 4 * 6 * 2 and all("/logic/seed42/" in p for p in table5)
    gaps = TABLES["figure5"].needs(exp).paths(exp)["gaps"]
    assert gaps[0] == paths.diagnostics("paper", "qwen3-4b-base", "math", 42, "entropy_gap/base.json")


@pytest.mark.parametrize("key, value, message", [
    ("code_data", DELETE, r"'tables.table1.benchmarks.7': HumanEval\+ is scored on runs trained on the code set"),
    ("logic_data", DELETE, r"'tables.table5.benchmarks.0': LogiQA2 is scored on runs trained on the logic set"),
    ("tables.figure5.benchmarks", ["MATH500", "MBPP+"], r"'tables.figure5.benchmarks'.*span \['code', 'math'\]"),
])
def test_a_domain_without_its_training_set_is_refused_naming_the_key(paper_raw, key, value, message):
    raw = mutate(paper_raw, key, value)
    raw["tables"].pop("table12")  # Table 12 counts the three sets (its own error)
    with pytest.raises(ConfigError, match=message):
        Experiment.from_dict(raw)


def test_the_mixture_needs_the_three_sets_and_refuses_gemma(paper_raw):
    mixture = mutate(paper_raw, "train_domains", "mixture")
    with pytest.raises(ConfigError, match=r"mixture with Gemma backbones \['gemma-3-4b-pt'\].*App. E.4"):
        Experiment.from_dict(mixture)
    no_gemma = mutate(mixture, "tables", {"table1": paper_raw["tables"]["table1"]})
    with pytest.raises(ConfigError, match=r"'train_domains': mixture .* configure \['code_data'\]"):
        Experiment.from_dict(mutate(no_gemma, "code_data", DELETE))
    with pytest.raises(ConfigError, match="train_domains"):
        Experiment.from_dict(mutate(paper_raw, "train_domains", "math_only"))


# ---- the mixture set ------------------------------------------------------------------------------------------------
def _sets(tmp_path):
    tests = {"kind": "asserts", "cases": ["assert f(1) == 2"]}
    rows = {"math": [{"id": "0", "question": "1+1?", "completion": "c", "answer": "2"}],
            "code": [{"id": "0", "question": "f?", "completion": "c", "answer": "", "source": "codeio",
                      "tests": tests}],
            "logic": [{"id": "l0", "question": "Which?", "completion": "c", "answer": "B"},
                      {"id": "l1", "question": "Which?", "completion": "c", "answer": "A"}]}
    files = {}
    for domain, found in rows.items():
        files[domain] = str(tmp_path / f"{domain}.jsonl")
        write_jsonl(files[domain], found)
    return files, tests


def test_the_mixture_keeps_every_row_with_its_domain_and_a_unique_id(tmp_path):
    files, tests = _sets(tmp_path)
    rows, counts = mixed_rows(files)
    assert counts == {"math": 1, "code": 1, "logic": 2}
    assert [r["id"] for r in rows] == ["math/0", "code/0", "logic/l0", "logic/l1"]  # "0" twice: unique once prefixed
    out, summary = tmp_path / "mix" / "train.jsonl", tmp_path / "mix.summary.json"
    mix_stage([f"{d}={f}" for d, f in files.items()], str(out), str(summary))
    examples = load_examples(out)
    assert [(e.id, e.domain) for e in examples] == [("math/0", "math"), ("code/0", "code"), ("logic/l0", "logic"),
                                                    ("logic/l1", "logic")]
    assert examples[1].tests == tests and examples[0].tests is None  # a code row keeps its tests
    record = json.loads(summary.read_text())
    assert record["kept"] == 4 and record["counts"]["logic"] == 2 and set(record["inputs"]) == set(files.values())
    with pytest.raises(ValueError, match=r"reads the sets \['math', 'code', 'logic'\]; got \['code', 'math'\]"):
        mixed_rows({d: f for d, f in files.items() if d != "logic"})
    write_jsonl(files["logic"], [{"id": "x", "question": "q", "completion": "c", "answer": "A", "domain": "math"}])
    with pytest.raises(ValueError, match=r"logic.jsonl: row x names another domain than 'logic'"):
        mixed_rows(files)


def test_a_training_row_with_bad_tests_or_domain_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [{"id": "a", "question": "q", "completion": "c", "answer": ""},
                       {"id": "b", "question": "q", "completion": "c", "answer": "", "tests": ["assert 1"]}])
    with pytest.raises(ValueError, match=r"t.jsonl: row 2 \(id b\): 'tests' must be an object with a list"):
        load_examples(path)
    write_jsonl(path, [{"id": "a", "question": "q", "completion": "c", "answer": "", "domain": "chemistry"}])
    with pytest.raises(ValueError, match=r"row 1 \(id a\): 'domain' 'chemistry' is not math, code or logic"):
        load_examples(path)


# ---- grading the generation phases' answers by domain ----------------------------------------------------------------
def _job(domain, code=None):
    stage = SimpleNamespace(run="ssb", domain=domain, code=code, grader_workers=2, grader_timeout_s=5)
    return SimpleNamespace(stage=stage)


def _records(pairs):
    return [{"prompt_id": pid, "sample_index": i, "text": text} for i, (pid, text) in enumerate(pairs)]


def test_logic_answers_are_graded_by_their_option_letter():
    examples = {"q": Example("q", "Which?", "c", "B")}
    records = _records([("q", "<think>A or B</think><answer>The answer is (B).</answer>"),
                        ("q", "<think>..</think><answer>The answer is (A).</answer>"),
                        ("q", "<answer>\\boxed{2}</answer>")])
    assert grade(_job("logic"), records, examples) == [True, False, False]


CALL_TESTS = {"kind": "call", "cases": [{"kwargs": {"a": 2, "b": 3}, "output": 5},
                                        {"kwargs": {"a": -1, "b": 1}, "output": 0}]}


@needs_bwrap
def test_code_answers_are_run_against_their_rows_own_tests_in_the_sandbox():
    examples = {"c": Example("c", "Add a and b.", "", "", CALL_TESTS)}
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    records = _records([("c", f"<think>try</think><answer>{good}</answer>"),
                        ("c", "<answer>```python\ndef add(a, b):\n    return a - b\n```</answer>"),
                        ("c", "<answer>a + b</answer>"),  # no program
                        ("c", f"<think>{good}</think><answer>no code</answer>")])  # a program only while thinking
    code = CodeData(timeout_s=5, memory_mb=512, isolation="bwrap")
    assert grade(_job("code", code), records, examples) == [True, False, False, False]
    with pytest.raises(ValueError, match="code rows are graded with the 'code_data' section"):
        grade(_job("code"), records, examples)
    without = {"c": Example("c", "Add.", "", "")}
    with pytest.raises(ValueError, match="code row c has no 'tests'"):
        grade(_job("code", code), records, without)


def test_a_code_grader_without_a_sandbox_fails_the_job(failing_bwrap):  # noqa: F811
    examples = {"c": Example("c", "Add.", "", "", CALL_TESTS)}
    program = "```python\ndef add(a, b):\n    return a + b\n```"
    with pytest.raises(SandboxUnavailable, match="'code_data.isolation'"):
        grade(_job("code", CodeData(isolation="bwrap")), _records([("c", program)]), examples)


def test_mixture_rows_are_graded_by_their_own_domain():
    examples = {"m": Example("m", "1+1?", "c", "2", domain="math"), "l": Example("l", "Which?", "c", "C",
                                                                                 domain="logic")}
    records = _records([("m", "\\boxed{2}"), ("l", "The answer is (C)."), ("m", "\\boxed{3}"),
                        ("l", "The answer is (D).")])
    assert grade(_job("mix"), records, examples) == [True, True, False, False]
    with pytest.raises(ValueError, match="row x: a mixture row needs its 'domain'"):
        grade(_job("mix"), _records([("x", "\\boxed{2}")]), {"x": Example("x", "1+1?", "c", "2")})


def test_ssb_shows_the_most_frequent_wrong_answer_of_the_rows_domain_and_asks_for_its_form():
    ex = [Example("q", "Which?", "c", "A")]
    texts = ["The answer is (A).", "I think (B). The answer is (B).", "The answer is (C).", "So: The answer is (B)."]
    rollouts = [{"id": "q", "sample_index": i, "text": t, "correct": i == 0} for i, t in enumerate(texts)]
    (pair,), _ = hint_pairs(ex, rollouts, "r.jsonl", "most_frequent", "logic")
    assert pair["incorrect"] == texts[1] and pair["domain"] == "logic"  # B twice beats C once
    assert final_answer("logic", texts[3]) == "B" and final_answer("math", "\\boxed{7}") == "7"
    assert final_answer("code", "<think>```python\nx=1\n```</think>```python\ny=2\n```") == "y=2"
    assert hint_prompt("Q?", "r", "w", domain="logic").endswith("End your response with 'The answer is (X).'")
    assert hint_prompt("Q?", "r", "w", domain="code").endswith("in one ```python code block.")
    assert hint_prompt("Q?", "r", "w").endswith("Put the final answer in \\boxed{}.")


# ---- Table 5 --------------------------------------------------------------------------------------------------------
def test_table5_is_table1s_layout_on_the_logic_benchmarks_with_their_average():
    rows = []
    for backbone in ("qwen3-4b-base", "gemma-3-4b-pt"):
        for method, base in (("sft", 60.0), ("wmss", 70.0)):
            for bench, shift in (("LogiQA2", 0.0), ("ReClor", 5.0)):
                rows.append({"backbone": backbone, "seed": 42, "run": method if method == "sft" else "wmss_lam0.5",
                             "method": method, "lam": None if method == "sft" else 0.5, "benchmark": bench,
                             "accuracy_pct": base + shift})
    wide = TABLES["table5"].build(SimpleNamespace(scores=pd.DataFrame(rows)),
                                  {"benchmarks": ["LogiQA2", "ReClor"], "label_lambda": False})
    assert list(wide.columns) == ["group", "row", "LogiQA2", "ReClor", "Avg."]
    assert wide.set_index(["group", "row"]).loc[("Gemma-3-4B-PT", "WMSS")].tolist() == [70.0, 75.0, 72.5]


def test_the_embedded_logic_benchmark_is_the_held_out_items_the_logic_set_leaves_out(tmp_path):
    from weakdriven.data.embedded import logic_items, logic_test_set, write_logic_raw
    from weakdriven.data.logic import assert_no_evaluation_items, logic_candidates, raw_files, read_split

    splits = logic_items(160, 0)
    rows = logic_test_set(splits)
    assert len(rows) == 20 + 20 and len({r["id"] for r in rows}) == 40
    first = splits[("logiqa2", "test")][0]
    assert rows[0]["gold"] == "ABCD"[first["answer"]] and rows[0]["options"] == first["options"]
    write_logic_raw(tmp_path, splits)
    items = [it for (source, split), path in raw_files(tmp_path).items() for it in read_split(source, split, path)]
    candidates, counts = logic_candidates(items, [r["question"] for r in rows])
    assert_no_evaluation_items(candidates, {"synth-logic": [r["question"] for r in rows]})
    assert counts["held-out content"] == 2 and counts["candidates"] == 120  # the two copies planted in training


@needs_bwrap
def test_the_embedded_code_benchmark_is_judged_as_livecodebench_stdio_problems():
    from weakdriven.data.embedded import N_CODE, code_test_set
    from weakdriven.eval.code import run_judge, unpack_task

    rows = code_test_set(3, 0)
    k = int(rows[0]["question"].split("adds ")[1].split()[0])
    assert f"(stdio task {N_CODE})" in rows[0]["question"]  # numbered past every training row
    assert rows[0]["question"].endswith(f"adds {k} to a number.")  # the number to copy next to the answer
    task = unpack_task(rows[0]["task"], "synth-code")
    right, _ = run_judge(task, f"x = int(input())\nprint(x + {k})", timeout_s=10, memory_mb=512, isolation="bwrap",
                         test_timeout_s=5)
    wrong, _ = run_judge(task, f"x = int(input())\nprint(x + {k + 1})", timeout_s=10, memory_mb=512,
                         isolation="bwrap", test_timeout_s=5)
    assert right["passed"] and not wrong["passed"]
