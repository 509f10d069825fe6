"""Damaged inputs that look plausible are refused before any output is written, naming the file and the row: an
empty training completion, a benchmark row whose answer is null, a benchmark file with a JSON syntax error, and a
truncated provenance record beside a snapshot score file."""

import json
from types import SimpleNamespace

import pytest
from test_tables import STEPS, TABLE3, snapshot_rows, write_csvs

from weakdriven.benchmarks import load_benchmark
from weakdriven.checks import DamagedFile
from weakdriven.data.chat import load_examples, write_jsonl
from weakdriven.tables import table_stage


def test_a_training_row_with_an_empty_completion_is_refused_naming_file_and_row(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"id": f"r{i}", "question": f"What is {i} + 1?", "completion": f"<answer>{i + 1}</answer>",
             "answer": str(i + 1)} for i in range(3)]
    write_jsonl(path, rows)
    assert [ex.id for ex in load_examples(path)] == ["r0", "r1", "r2"]
    rows[1]["completion"] = ""  # no answer token: the row would carry no loss at all
    write_jsonl(path, rows)
    with pytest.raises(ValueError, match=rf"{path}: row 2 \(id r1\): empty completion"):
        load_examples(path)
    rows[1]["completion"], rows[2]["question"] = "<answer>2</answer>", "  "
    write_jsonl(path, rows)
    with pytest.raises(ValueError, match=rf"{path}: row 3 \(id r2\): empty question"):
        load_examples(path)


def test_a_benchmark_row_whose_answer_is_null_is_refused_not_graded_against_none(tmp_path):
    rows = [{"instruction": f"q{i}", "input": "", "answer": str(i)} for i in range(40)]  # AMC23: 40 rows
    rows[2]["answer"] = None  # str(None) would have made every model wrong on it
    (tmp_path / "AMC23.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"AMC23.json: row 2: field 'answer' is None, not an answer"):
        load_benchmark("AMC23", tmp_path / "AMC23.json", verify_sha256=False)
    rows[2]["answer"] = " "
    (tmp_path / "AMC23.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"AMC23.json: row 2: field 'answer' is ' ', not an answer"):
        load_benchmark("AMC23", tmp_path / "AMC23.json", verify_sha256=False)


def test_a_benchmark_file_with_a_json_syntax_error_is_named(tmp_path):
    path = tmp_path / "AMC23.json"
    path.write_text('[{"instruction": "q", "input": "", "answer": "1"},\n {"instruction": "q2" "answer": "2"}]')
    with pytest.raises(ValueError, match=rf"{path}: not valid JSON \(Expecting ',' delimiter, line 2 column"):
        load_benchmark("AMC23", path, verify_sha256=False)


def test_a_truncated_provenance_record_beside_a_snapshot_file_fails_the_table_before_it_is_written(tmp_path):
    rows = []
    for ck, ((m_only, g_only), (m_frozen, g_frozen)) in TABLE3.items():
        rows += snapshot_rows("wdjt_only_lam0.5", ck, STEPS[ck], m_only / 100, g_only / 100)
        rows += snapshot_rows("wdjt_frozen_lam0.5", ck, STEPS[ck], m_frozen / 100, g_frozen / 100)
    files = write_csvs(tmp_path, rows)
    for f in files:
        (tmp_path / f.split("/")[-1].replace(".csv", ".provenance.json")).write_text(json.dumps({"git_commit": "a"}))
    runs = ("wdjt_only_lam0.5", "wdjt_frozen_lam0.5")
    stage = SimpleNamespace(table="table3", spec={"methods": ["wdjt_only", "wdjt_frozen"],
                                                  "benchmarks": ["MATH500", "GSM8K"]},
                            needs={"snapshots": [["qwen3-4b-base", 42, r, b] for r in runs
                                                 for b in ("MATH500", "GSM8K")]},
                            to_json=lambda: "{}")
    out = tmp_path / "tables" / "table3.csv"
    out.parent.mkdir()
    table_stage(stage, {"snapshots": files}, str(out))
    assert out.is_file() and json.loads((tmp_path / "tables" / "table3.provenance.json").read_text())["inputs"]
    for written in out.parent.iterdir():
        written.unlink()
    damaged = tmp_path / files[1].split("/")[-1].replace(".csv", ".provenance.json")
    damaged.write_text('{"git_commit": "a", "sett')
    with pytest.raises(DamagedFile, match=rf"{damaged}: not valid JSON"):
        table_stage(stage, {"snapshots": files}, str(out))
    assert list(out.parent.iterdir()) == []  # neither the table, nor its cells, nor its provenance
