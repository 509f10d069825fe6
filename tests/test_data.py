"""Embedded data, the AM-1.4M filter, benchmark loaders and grading (on real test sets when they are beside us)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import BENCHMARK_DATA, BIN

from weakdriven.benchmarks import BENCHMARKS, load_benchmark
from weakdriven.data.am import FORMAT, filter_math_rows
from weakdriven.data.chat import load_examples, read_jsonl
from weakdriven.data.embedded import CORPUS_SEPARATOR, TASKS, make_embedded_data
from weakdriven.eval.grading import extract_choice, grade_many, grade_math, grade_one


def test_embedded_data_is_disjoint_well_formed_and_deterministic(tmp_path):
    make_embedded_data(tmp_path / "a", n_train=90, n_test=20, n_pretrain=30, seed=1)
    make_embedded_data(tmp_path / "b", n_train=90, n_test=20, n_pretrain=30, seed=1)
    train = load_examples(tmp_path / "a" / "data" / "math" / "train.jsonl")
    assert len(train) == 90
    a, b = (tmp_path / d / "data" / "math" / "train.jsonl" for d in ("a", "b"))
    assert a.read_text() == b.read_text()
    assert all(FORMAT.match(ex.completion) for ex in train)  # passes the authors' own format filter
    assert all(grade_math(ex.completion, ex.answer) for ex in train[:15])
    test_questions = set()
    for task in TASKS:
        rows = list(read_jsonl(tmp_path / "a" / "benchmarks" / f"{task}.jsonl", ("id", "question", "gold")))
        assert len(rows) == 20
        test_questions |= {r["question"] for r in rows}
    assert not test_questions & {ex.question for ex in train}
    documents = (tmp_path / "a" / "data" / "pretrain.txt").read_text().split(CORPUS_SEPARATOR)
    assert len(documents) == 30 and all(d.strip() for d in documents)
    program = next(d for d in documents if "```python" in d)  # a program spans lines inside its document
    assert program.startswith("Question: Write a Python program") and program.count("\n") == 3
    assert sum(d.count("\nA. ") for d in documents) == 6  # copy questions with four options, one document each


def am_row(user, assistant, reference):
    info = {"reference_answer": reference} if reference is not None else {}
    return {"messages": [{"role": "user", "content": user, "info": info},
                         {"role": "assistant", "content": assistant, "info": {}}]}


def test_am_filter_keeps_verified_rows_and_counts_each_drop_reason():
    good = "<think>2+2=4</think>\n<answer>So \\boxed{4}.</answer>"
    rows = [
        am_row("What is 2+2?", good, "4"),
        am_row("What is 2+2?", "The answer is 4", "4"),                     # bad format
        am_row("What is 2+2?", good, None),                                  # no reference
        am_row("What is 2+2?", good, "5"),                                   # incorrect
        {"messages": [{"role": "user", "content": "hi"}]},                   # bad messages
        am_row("What is 1/2?", "<think>.</think><answer>\\boxed{\\frac{1}{2}}</answer>", "0.5"),
    ]
    kept, counts = filter_math_rows(rows)
    assert [r["id"] for r in kept] == ["am-0", "am-5"]
    assert counts == {"kept": 2, "bad format": 1, "no reference": 1, "incorrect": 1, "bad messages": 1}
    assert kept[0] == {"id": "am-0", "question": "What is 2+2?", "completion": good, "answer": "4"}


AM_REVISION = "53531c06634904118a2dcd83961918c4d69d1cdf"


def am_hub_row(question, answer_text, reference, source="openR1Math_default", think="t"):
    """A row as the dataset card shows it: user info (source, reference_answer, test_case), assistant info."""
    content = f"<think>{think}\n</think>\n<answer>\n{answer_text}\n</answer>"
    return {"messages": [
        {"role": "user", "content": question,
         "info": {"source": source, "reference_answer": reference, "test_case": None}},
        {"role": "assistant", "content": content,
         "info": {"source": "am-0309", "think_content": think + "\n", "answer_content": "\n" + answer_text + "\n"}},
    ]}


def am_hub_files():
    """The three files of the hub repository: two zstd subsets (every reason once or more) and the plain sample."""
    import zstandard

    half = [am_hub_row("What is 2+2?", "So \\boxed{4}.", "4"),                       # kept
            am_hub_row("What is 2+2?", "The answer is 4", "4"),                         # bad format (no box)
            am_hub_row("Write a poem.", "Roses \\boxed{x}", None, "InfinityInstruct"),  # no reference
            am_hub_row("Prove it.", "So \\boxed{3}.", "A proof by induction.", "NuminaMath_1.5")]  # unparsable ref
    nine = [am_hub_row("What is 3*3?", "\\boxed{9}", "9"),                             # kept
            am_hub_row("What is 3*3?", "\\boxed{6}", "9"),                             # incorrect
            {"messages": [{"role": "user", "content": "hi", "info": {}}]},            # bad messages
            am_hub_row("What is 1/2?", "\\boxed{\\frac{1}{2}}", "0.5")]                 # kept

    def jsonl(rows):
        return "".join(json.dumps(r) + "\n" for r in rows).encode()

    zstd = zstandard.ZstdCompressor(level=3)
    return {"am_0.5M.jsonl.zst": zstd.compress(jsonl(half)), "am_0.9M.jsonl.zst": zstd.compress(jsonl(nine)),
            "am_0.9M_sample_1k.jsonl": jsonl(nine[:1] * 3)}


def prepare_train(tmp_path, train_data, env):
    out = tmp_path / "out" / "train.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([str(BIN / "weakdriven"), "prepare-train", "--settings",
                             json.dumps({"train_data": train_data}), "--out", str(out), "--summary",
                             str(out.with_name("math.summary.json"))],
                            capture_output=True, text=True, env=env)
    return result, out


def test_am_loader_reads_the_hub_layout_offline_and_logs_counts_per_reason(tmp_path):
    from test_fetch import hf_cache

    cache = tmp_path / "hf"
    repo = cache / "hub" / "datasets--a-m-team--AM-DeepSeek-R1-Distilled-1.4M"
    hf_cache(cache, "a-m-team/AM-DeepSeek-R1-Distilled-1.4M", am_hub_files())
    (repo / "snapshots" / "89abcdef0123456789abcdef0123456789abcdef").rename(repo / "snapshots" / AM_REVISION)
    env = dict(os.environ, HF_HOME=str(cache), HF_HUB_OFFLINE="1")
    train_data = {"source": "hub", "hub_id": "a-m-team/AM-DeepSeek-R1-Distilled-1.4M", "revision": AM_REVISION,
                  "domain": "math", "subsets": ["am_0.5M", "am_0.9M"], "expected_rows": 3, "max_rows": None}
    result, out = prepare_train(tmp_path, train_data, env)
    assert result.returncode == 0, result.stderr[-2000:]
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in kept] == ["am_0.5M-1", "am_0.9M-1", "am_0.9M-4"]
    assert kept[0] == {"id": "am_0.5M-1", "question": "What is 2+2?", "answer": "4",
                       "completion": "<think>t\n</think>\n<answer>\nSo \\boxed{4}.\n</answer>"}
    counts = dict(re.findall(r"AM math filter: (.+?)\s+(\d+)$", result.stderr, re.M))
    assert counts == {"kept": "3", "bad messages": "1", "bad format": "1", "no reference": "1",
                      "unparsable reference": "1", "incorrect": "1"}
    summary = json.loads(out.with_name("math.summary.json").read_text())  # Table 12's row and its inputs' digests
    assert summary["domain"] == "math" and summary["kept"] == 3 and summary["counts"]["incorrect"] == 1
    assert sorted(Path(f).name for f in summary["inputs"]) == ["am_0.5M.jsonl.zst", "am_0.9M.jsonl.zst"]
    assert all(len(d) == 64 for d in summary["inputs"].values())
    # a kept count other than the expected one: an error with every count, and no training file
    result, out = prepare_train(tmp_path / "again", dict(train_data, expected_rows=111657), env)
    assert result.returncode != 0 and not out.exists()
    assert "kept 3 rows, config key 'train_data.expected_rows' says 111,657" in result.stderr
    assert "incorrect 1 (paper: 61,737)" in result.stderr and "expected_rows: null" in result.stderr
    # the sample subset is a plain JSONL file; another revision is not in the cache and fails offline
    result, out = prepare_train(tmp_path / "sample", dict(train_data, subsets=["am_0.9M_sample_1k"],
                                                          expected_rows=None), env)
    assert result.returncode == 0 and len(out.read_text().splitlines()) == 3
    result, out = prepare_train(tmp_path / "other", dict(train_data, revision="f" * 40), env)
    assert result.returncode != 0 and not out.exists()


def test_am_loader_names_a_damaged_file_and_line(tmp_path):
    from weakdriven.data.am import am_files, iter_am_rows

    files = am_hub_files()
    (tmp_path / "am_0.5M.jsonl.zst").write_bytes(files["am_0.5M.jsonl.zst"][:-20])  # truncated download
    (tmp_path / "am_0.9M.jsonl.zst").write_bytes(files["am_0.9M.jsonl.zst"])
    with pytest.raises(ValueError, match=r"am_0.5M.jsonl.zst: damaged after line \d+"):
        list(iter_am_rows(am_files("local", path=str(tmp_path))))
    (tmp_path / "am_0.9M_sample_1k.jsonl").write_text('{"messages": []}\n{not json\n')
    with pytest.raises(ValueError, match=r"am_0.9M_sample_1k.jsonl:2: not valid JSON"):
        list(iter_am_rows(am_files("local", path=str(tmp_path), subsets=["am_0.9M_sample_1k"])))
    with pytest.raises(FileNotFoundError, match=r"am_0.9M.jsonl.zst'\] \(prefetch"):
        am_files("local", path=str(tmp_path / "empty"), subsets=["am_0.9M"])
    with pytest.raises(ValueError, match=r"'train_data.subsets': \['am_2M'\]"):
        am_files("local", path=str(tmp_path), subsets=["am_2M"])


def test_choice_extraction():
    assert extract_choice("so the answer is (C).") == "C"
    assert extract_choice("First (A) looks wrong... \\boxed{D}") == "D"
    assert extract_choice("The answer is B because") == "B"
    assert extract_choice("no letter here") is None
    assert grade_one(("choice", "The answer is (E)", "E", 5)) == (True, None)


def test_grading_runs_in_worker_processes_and_reports_errors():
    verdicts = grade_many("math", ["\\boxed{12}", "x = \\boxed{\\frac{3}{4}}", "\\boxed{7}"], ["12", "0.75", "8"],
                          workers=2, timeout_s=5)
    assert [ok for ok, _ in verdicts] == [True, True, False]
    assert all(err is None for _, err in verdicts)


def test_benchmark_loader_errors_name_the_file(tmp_path):
    (tmp_path / "gsm8k.json").write_text(json.dumps([{"instruction": "q", "input": "", "answer": "1"}]))
    with pytest.raises(ValueError, match=r"gsm8k.json: sha256 \w{16}\.\.\. is not the GSM8K test set the paper used "
                                         r"\(2cc616a1e0b23ea1\.\.\..*'benchmark_checksums: false'"):
        load_benchmark("GSM8K", tmp_path)
    with pytest.raises(ValueError, match="gsm8k.json: 1 rows, expected 1319"):
        load_benchmark("GSM8K", tmp_path, verify_sha256=False)
    with pytest.raises(FileNotFoundError, match="benchmark_dir"):
        load_benchmark("SVAMP", tmp_path)


@pytest.mark.skipif(not BENCHMARK_DATA.is_dir(), reason="real benchmark files are not beside the repo")
@pytest.mark.parametrize("name", [b for b, spec in BENCHMARKS.items() if spec.file and spec.kind != "code"])
def test_real_benchmarks_load_and_their_gold_answers_grade_correct(name):  # code sets: tests/test_code.py fixtures
    if not (BENCHMARK_DATA / BENCHMARKS[name].file).is_file():
        pytest.skip(f"{BENCHMARKS[name].file} is not among the real test sets here (tests/test_logic.py: fixture)")
    rows = load_benchmark(name, BENCHMARK_DATA)  # the sha256 of the paper's copy is checked on the way
    assert len(rows) == BENCHMARKS[name].rows and all(r["question"] and r["gold"] for r in rows)
    sample = rows[:: max(1, len(rows) // 40)]
    if BENCHMARKS[name].kind == "choice":
        verdicts = grade_many("choice", [f"The answer is ({r['gold']})." for r in sample], [r["gold"] for r in sample],
                              2, 5)
    else:
        verdicts = grade_many("math", [f"<answer>\\boxed{{{r['gold']}}}</answer>" for r in sample],
                              [r["gold"] for r in sample], 2, 5)
    assert sum(ok for ok, _ in verdicts) >= 0.95 * len(sample)


def test_embedded_data_refuses_sizes_beyond_its_question_pool(tmp_path):
    with pytest.raises(ValueError, match="distinct questions per task"):
        make_embedded_data(tmp_path, n_train=3000, n_test=50, n_pretrain=10, seed=0)


def _equivalent_forms(gold: str) -> list[str]:
    """The gold answer written differently but equal: 12 -> 12.0, 12.00, \\frac{24}{2}; 0.5 -> \\frac{1}{2}; 1234 ->
    1,234 (thousands separator)."""
    import re
    from fractions import Fraction

    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", gold):  # thousands separators, not a tuple like "-2,1"
        gold = gold.replace(",", "")
    try:
        value = Fraction(gold)
    except (ValueError, ZeroDivisionError):
        return []
    forms = [f"{float(value):.1f}" if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}",
             f"\\frac{{{2 * value.numerator}}}{{{2 * value.denominator}}}"]
    if value.denominator == 1 and abs(value) >= 1000:
        forms.append(f"{int(value):,}")
    return forms


@pytest.mark.skipif(not BENCHMARK_DATA.is_dir(), reason="real benchmark files are not beside the repo")
@pytest.mark.parametrize("name", ["GSM8K", "MATH500", "SVAMP", "MAWPS", "AIME2025", "AMC23"])
def test_math_scorer_agrees_with_math_verify_on_gold_answers_in_equivalent_forms(name):
    """score_answer's verdict equals math-verify's own (parse + verify) on each real gold answer rewritten in an
    equivalent form, and both accept it; the gold plus one is rejected by both."""
    from fractions import Fraction

    from math_verify import parse, verify

    from weakdriven import score_answer

    rows = load_benchmark(name, BENCHMARK_DATA)
    checked = 0
    for row in rows[:: max(1, len(rows) // 60)]:
        for form in _equivalent_forms(row["gold"]):
            completion = f"<think>...</think><answer>The answer is $\\boxed{{{form}}}$.</answer>"
            reference = bool(verify(parse(f"${row['gold']}$"), parse(completion)))
            assert score_answer(name, completion, row["gold"]) == reference, (row["id"], row["gold"], form)
            assert reference, (row["id"], row["gold"], form)
            checked += 1
        if not _equivalent_forms(row["gold"]):
            continue
        wrong = str(float(Fraction(row["gold"].replace(",", ""))) + 1)
        assert not score_answer(name, f"<answer>\\boxed{{{wrong}}}</answer>", row["gold"]), row["id"]
    assert checked >= 20, checked  # most golds of these sets are numbers
