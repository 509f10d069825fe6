"""Logic benchmarks (LogiQA 2.0 test, ReClor val) and the public score_answer: loaders, letters, option texts."""

import json
import random

import pytest
from conftest import BENCHMARK_DATA, eval_stage

from weakdriven import score_answer
from weakdriven.benchmarks import BENCHMARKS, load_benchmark
from weakdriven.eval.generation import Protocol
from weakdriven.eval.grading import extract_choice, grade_many

HAS_LOGIQA = (BENCHMARK_DATA / "logiqa2_test.jsonl").is_file()


def reclor_rows(n=500, seed=0):
    """ReClor val in its release format (context, question, answers[4], label, id_string); the data is not here."""
    rng = random.Random(seed)
    return [{"context": f"Context {i}: all A are B.", "question": "Which must be true?",
             "answers": [f"option {i}-{k} about B" for k in range(4)], "label": rng.randrange(4),
             "id_string": f"val_{i}"} for i in range(n)]


@pytest.mark.skipif(not HAS_LOGIQA, reason="the real LogiQA 2.0 test set is not beside the repo")
def test_logiqa2_test_set_loads_with_lettered_options_and_every_gold_scores():
    rows = load_benchmark("LogiQA2", BENCHMARK_DATA)
    assert len(rows) == 1572 == BENCHMARKS["LogiQA2"].rows
    raw = json.loads((BENCHMARK_DATA / "logiqa2_test.jsonl").read_text().splitlines()[0])
    first = rows[0]
    assert first["gold"] == "ABCD"[raw["answer"]] and first["options"] == raw["options"]
    assert first["question"].startswith(raw["text"].strip())
    assert "\nA. " + raw["options"][0].strip() in first["question"]
    assert {r["gold"] for r in rows} == set("ABCD")
    golds = [r["gold"] for r in rows]
    right = grade_many("choice", [f"<answer>The answer is ({g}).</answer>" for g in golds], golds, 2, 5)
    wrong = grade_many("choice", [f"\\boxed{{{'ABCD'[('ABCD'.index(g) + 1) % 4]}}}" for g in golds], golds, 2, 5)
    assert all(ok for ok, _ in right) and not any(ok for ok, _ in wrong)
    # the option text alone names the answer when it is the only option the final answer states
    by_text = grade_many("choice", [f"<answer>{r['options']['ABCD'.index(r['gold'])]}</answer>" for r in rows],
                         golds, 2, 5, [r["options"] for r in rows])
    assert sum(ok for ok, _ in by_text) >= 0.97 * len(rows)


def test_reclor_loads_from_its_release_format_and_refuses_bad_rows(tmp_path):
    rows = reclor_rows()
    (tmp_path / "reclor_val.json").write_text(json.dumps(rows))
    loaded = load_benchmark("ReClor", tmp_path)
    assert len(loaded) == 500 and loaded[7]["gold"] == "ABCD"[rows[7]["label"]]
    assert loaded[7]["question"].splitlines()[-1] == "D. option 7-3 about B"
    (tmp_path / "reclor_val.json").write_text(json.dumps(rows[:499]))
    with pytest.raises(ValueError, match="reclor_val.json: 499 rows, expected 500 for ReClor"):
        load_benchmark("ReClor", tmp_path)
    rows[3]["label"] = 4
    (tmp_path / "reclor_val.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"reclor_val.json: row 3: answer index 4 is not within the 4 options"):
        load_benchmark("ReClor", tmp_path)
    del rows[5]["answers"]
    rows[3]["label"] = 0
    (tmp_path / "reclor_val.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"row 5 lacks field\(s\) \['answers'\]"):
        load_benchmark("ReClor", tmp_path)


@pytest.mark.parametrize("completion, letter", [
    ("so the answer is (C).", "C"), ("The answer is: option B", "B"), ("\\boxed{\\text{D}}", "D"),
    ("<answer> A </answer>", "A"), ("Therefore:\n(B)\n", "B"), ("the answer is d", "D"),
    ("First (A) looks wrong... \\boxed{C}", "C"), ("no letter here", None),
])
def test_choice_letters_in_the_forms_models_write(completion, letter):
    assert extract_choice(completion) == letter


def test_option_text_is_used_only_when_it_names_exactly_one_option():
    options = ["5 apples", "15 apples", "all of the above", "none"]
    assert extract_choice("<think>...</think><answer>15 apples</answer>", options) == "B"
    assert extract_choice("I would say 5 apples", options) == "A"   # word boundaries: not "15 apples"
    assert extract_choice("<answer>5 apples or 15 apples</answer>", options) is None  # ambiguous


@pytest.mark.parametrize("benchmark, completion, gold, expected", [
    ("GSM8K", "<answer>\\boxed{18}</answer>", "18", True),
    ("GSM8K", "<answer>\\boxed{17}</answer>", "18", False),
    ("MATH500", "so \\boxed{\\frac{1}{2}}", "0.5", True),
    ("MATH500", "\\boxed{\\sqrt{2}/2}", "\\frac{\\sqrt{2}}{2}", True),
    ("AQuA", "The answer is (C)", "C", True),
    ("LogiQA2", "\\boxed{B}", "A", False),
    ("ReClor", "answer is D", "D", True),
])
def test_score_answer(benchmark, completion, gold, expected):
    assert score_answer(benchmark, completion, gold) is expected


def test_score_answer_names_an_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'GSM9K'"):
        score_answer("GSM9K", "1", "1")


def test_score_records_reports_unbiased_pass_at_k_per_prompt():
    from weakdriven import pass_at_k
    from weakdriven.eval.pipeline import score_records

    rows = [{"id": "p0", "question": "q", "gold": "4"}, {"id": "p1", "question": "q", "gold": "9"}]
    answers = {"p0": ["4", "4", "5", "6"], "p1": ["9", "1", "2", "3"]}  # 2 of 4 and 1 of 4 correct
    gens = [{"prompt_id": pid, "sample_index": i, "text": f"\\boxed{{{a}}}", "finish_reason": "stop",
             "protocol": "four"} for pid, texts in answers.items() for i, a in enumerate(texts)]
    ev = eval_stage(protocol="four", protocols={"four": Protocol("four", temperature=1.0, top_p=1.0, n=4)}).evaluation
    scored = score_records("GSM8K", rows, gens, ev, "gens")
    assert scored["samples_per_prompt"] == 4 and scored["accuracy"] == 3 / 8
    assert scored["pass_at_k"] == {"1": pytest.approx(3 / 8), "4": pytest.approx(1.0)}
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)  # by hand: 1 - C(2,2)/C(4,2)
    with pytest.raises(ValueError, match=r"gens: prompts have different numbers of samples \[3, 4\]"):
        score_records("GSM8K", rows, gens[:-1], ev, "gens")
    # records of another protocol, or of the protocol's earlier definition (n changed), are not the job's
    with pytest.raises(ValueError, match=r"gens: records of protocol \['paper-greedy'\] with 4 samples per prompt; "
                       r"protocol 'four' \(evaluation.protocols\) draws 4"):
        score_records("GSM8K", rows, [{**g, "protocol": "paper-greedy"} for g in gens], ev, "gens")
    with pytest.raises(ValueError, match=r"records of protocol \['paper-greedy'\] with 4 samples per prompt; "
                       r"protocol 'paper-greedy' \(evaluation.protocols\) draws 1"):
        score_records("GSM8K", rows, [{**g, "protocol": "paper-greedy"} for g in gens], eval_stage().evaluation, "g")
    # the same name and count, sampled otherwise (the protocol redefined since): refused too
    hotter = [{**g, "temperature": 0.7, "top_p": 1.0, "top_k": 0} for g in gens]
    with pytest.raises(ValueError, match=r"gens: records sampled with \(temperature, top_p, top_k\) "
                       r"\[\(0.7, 1.0, 0\)\]; protocol 'four' \(evaluation.protocols\) samples with \(1.0, 1.0, 0\)"):
        score_records("GSM8K", rows, hotter, ev, "gens")
    assert score_records("GSM8K", rows, [{**g, "temperature": 1.0, "top_p": 1.0, "top_k": 0} for g in gens], ev,
                         "gens")["accuracy"] == 3 / 8


HAS_AQUA = (BENCHMARK_DATA / "aqua.json").is_file()


@pytest.mark.skipif(not HAS_AQUA, reason="the real AQuA test set is not beside the repo")
def test_aqua_boxed_option_values_are_matched_against_the_option_texts():
    """The authors' AQuA grader: a boxed letter or "answer is (X)" first, else the boxed value against the option
    texts, which sit in the instruction ("Answer Choices: (A) 23.65 (B) ...")."""
    rows = load_benchmark("AQuA", BENCHMARK_DATA)
    raw = json.loads((BENCHMARK_DATA / "aqua.json").read_text())
    assert len(rows) == 254 and all(len(r["options"]) == 5 for r in rows)
    assert rows[0]["options"] == ["23.65", "1000", "35.62", "2.65", "1023.65"] and rows[0]["gold"] == "A"
    assert rows[0]["question"] == raw[0]["instruction"].strip()  # the prompt is unchanged
    golds = [r["gold"] for r in rows]
    boxed_gold = grade_many("choice", [f"So the result is \\boxed{{{r['options']['ABCDE'.index(r['gold'])]}}}."
                                       for r in rows], golds, 2, 5, [r["options"] for r in rows])
    boxed_other = grade_many("choice", [f"\\boxed{{{r['options'][('ABCDE'.index(r['gold']) + 1) % 5]}}}"
                                        for r in rows], golds, 2, 5, [r["options"] for r in rows])
    right, wrong = sum(ok for ok, _ in boxed_gold), sum(ok for ok, _ in boxed_other)
    assert right >= 250 and wrong == 0, (right, wrong)
    # a letter wins over a value; a value that is no option is no answer
    first = rows[0]
    assert score_answer("AQuA", "\\boxed{23.65}", "A", first["options"])
    assert score_answer("AQuA", "The answer is (A). \\boxed{23.65}", "A", first["options"])
    assert not score_answer("AQuA", "The answer is (D). \\boxed{23.65}", "A", first["options"])
    assert extract_choice("\\boxed{\\$23.65}", first["options"]) == "A"
    assert extract_choice("\\boxed{24}", first["options"]) is None
    assert not score_answer("AQuA", "\\boxed{23.65}", "A")  # without the options there is nothing to match


def test_aqua_rows_without_answer_choices_are_refused(tmp_path):
    bad = [{"instruction": "What is 2+2?", "input": "", "output": "", "answer": "A"}] * 254
    (tmp_path / "aqua.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"aqua.json: row 0: the instruction has no 'Answer Choices: \(A\) \.\.\. "):
        load_benchmark("AQuA", tmp_path, verify_sha256=False)
