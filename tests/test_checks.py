"""Stages trust nothing they read: damaged records and weights are named, a table needs every cell exactly once and
each record must belong to its cell, outputs appear whole or not at all, and a config that cannot run is refused at
load, naming the key."""

import json
import subprocess

import pytest
from conftest import BIN, mutate

from weakdriven.checks import DamagedFile, checked_checkpoint, read_json, write_atomic
from weakdriven.config import ConfigError, Experiment, load_config
from weakdriven.data.chat import write_jsonl
from weakdriven.tables.scores import check_cells, load_scores


def record(root, backbone="b", seed=42, run="sft", protocol="paper-greedy", bench="GSM8K", accuracy=0.5, **extra):
    path = root / "eval" / backbone / "math" / f"seed{seed}" / run / protocol / f"{bench}.scores.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": bench, "backbone": backbone, "seed": seed, "run": run, "method": run.split("_")[0],
            "lam": None, "n": 10, "correct": int(accuracy * 10), "accuracy": accuracy, "protocol": protocol, **extra}
    path.write_text(json.dumps(data))
    return path


def test_a_truncated_record_is_named_not_a_bare_json_error(tmp_path):
    path = record(tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(DamagedFile, match=rf"{path}: not valid JSON .* truncated or damaged"):
        read_json(path)
    with pytest.raises(DamagedFile, match=str(path)):
        load_scores([str(path)])


def test_a_record_must_belong_to_the_cell_its_path_names(tmp_path):
    good = record(tmp_path)
    assert load_scores([str(good)]).accuracy_pct.tolist() == [50.0]
    copied = record(tmp_path, seed=7)
    copied.write_text(good.read_text())  # seed 42's record copied into seed 7's place
    with pytest.raises(ValueError, match=r"seed7/sft/paper-greedy/GSM8K.scores.json: the record is of \{'seed': 42\}"):
        load_scores([str(copied)])


def test_a_table_needs_every_cell_exactly_once(tmp_path):
    files = [record(tmp_path, seed=s, run=r) for s in (1, 2) for r in ("sft", "wmss_lam0.5")]
    scores = load_scores([str(f) for f in files])
    cells = [("b", s, r, "GSM8K") for s in (1, 2) for r in ("sft", "wmss_lam0.5")]
    check_cells(scores, cells, "table1")
    with pytest.raises(ValueError, match=r"table1: 1 of 5 cells .* no score record, e.g. \[\('b', 3, 'sft', 'GSM8K'\)"):
        check_cells(scores, [*cells, ("b", 3, "sft", "GSM8K")], "table1")
    import pandas as pd

    with pytest.raises(ValueError, match=r"1 have more than one, e.g. \[\('b', 1, 'sft', 'GSM8K'\)\]"):
        check_cells(pd.concat([scores, scores.iloc[:1]]), cells, "table1")


def test_the_table_stage_refuses_a_missing_seed_and_writes_nothing(tmp_path):
    files = [record(tmp_path, seed=s, run=r, bench=b) for s in (1, 2) for r in ("sft", "wmss_lam0.5")
             for b in ("GSM8K", "MATH500") if (s, r, b) != (2, "wmss_lam0.5", "MATH500")]
    needs = {"scores": [["b", s, r, b, "paper-greedy"] for s in (1, 2) for r in ("sft", "wmss_lam0.5")
                        for b in ("GSM8K", "MATH500")]}
    settings = {"table": "table1", "spec": {"benchmarks": ["GSM8K", "MATH500"], "label_lambda": False},
                "needs": needs}
    out = tmp_path / "tables" / "table1.csv"

    def build(files):
        return subprocess.run([str(BIN / "weakdriven"), "table", "--settings", json.dumps(settings), "--scores",
                               *map(str, files), "--out", str(out)], capture_output=True, text=True)

    result = build(files)
    assert result.returncode != 0 and not out.exists()
    assert "table1 (scores): 1 of 8 cells" in result.stderr and "('b', 2, 'wmss_lam0.5', 'MATH500')" in result.stderr
    files.append(record(tmp_path, seed=2, run="wmss_lam0.5", bench="MATH500", protocol="sampled-3x"))
    result = build(files)  # the record of another protocol is not the cell the table needs
    assert result.returncode != 0 and not out.exists() and "1 of 8 cells" in result.stderr
    files[-1] = record(tmp_path, seed=2, run="wmss_lam0.5", bench="MATH500")
    result = build(files)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and not list(out.parent.glob(".table1.csv*"))
    assert out.read_text().splitlines()[0] == "group,row,GSM8K,MATH500,Math Avg.,Math Avg. Δ"


def test_truncated_weights_are_named_before_any_model_is_built(tmp_path):
    from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data

    make_embedded_data(tmp_path / "w", n_train=6, n_test=2, n_pretrain=6, seed=0)
    tok = build_tokenizer([tmp_path / "w" / "data" / "pretrain.txt"])
    arch = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                intermediate_size=64)
    build_tiny_model(tok, arch, seed=0).save_pretrained(tmp_path / "m")
    assert checked_checkpoint(tmp_path / "m") == tmp_path / "m"
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-100])  # a copy cut short
    with pytest.raises(DamagedFile, match=r"model.safetensors: the header describes \d+ bytes but the file has"):
        checked_checkpoint(tmp_path / "m")
    weights.write_bytes(data[:5])
    with pytest.raises(DamagedFile, match="too short for a safetensors file"):
        checked_checkpoint(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{")
    with pytest.raises(DamagedFile, match=r"config.json: not valid JSON"):
        checked_checkpoint(tmp_path / "m")


def test_outputs_appear_whole_or_not_at_all(tmp_path):
    out = tmp_path / "rows.jsonl"

    def rows():
        yield {"id": "a"}
        raise RuntimeError("the job died mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(out, rows())
    assert not out.exists() and not list(tmp_path.iterdir())
    write_jsonl(out, [{"id": "a"}])
    write_atomic(tmp_path / "t.csv", "x\n1\n")
    assert out.read_text() == '{"id": "a"}\n' and (tmp_path / "t.csv").read_text() == "x\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl", "t.csv"]


def test_a_yaml_key_given_twice_is_refused_naming_both_lines(tmp_path):
    (tmp_path / "c.yaml").write_text("name: a\nwmss:\n  lam: 0.5\n  alpha: 0.1\n  lam: 0.3\n")
    with pytest.raises(ConfigError, match=r"c.yaml: config key 'lam' is given twice \(lines 3 and 5\)"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("key,value,message", [
    ("wmss.alpha", 0.5, r"'wmss.alpha', 'wmss.beta', 'wmss.gamma' \(0.5, 0.8, 0.1\) must be non-negative and sum "
                        r"to 1 .* they sum to 1.4"),
    ("cluster.eval_gpus", 0, r"'evaluation.backend': vllm needs GPUs, but 'cluster.eval_gpus' is 0"),
])
def test_settings_that_cannot_run_are_refused_at_load(paper_raw, key, value, message):
    with pytest.raises(ConfigError, match=message):
        Experiment.from_dict(mutate(paper_raw, key, value))



def test_the_table_stage_refuses_a_missing_cell_of_any_kind(tmp_path):
    """Figure 3 by hand with M1's record but not the WMSS run's: refused, naming the cell; with both it builds."""
    m1 = record(tmp_path, run="m1", bench="GSM8K", accuracy=0.3)
    settings = {"table": "figure3", "spec": {"benchmarks": ["GSM8K"]},
                "needs": {"scores": [["b", 42, "m1", "GSM8K", "paper-greedy"],
                                     ["b", 42, "wmss_lam0.5", "GSM8K", "paper-greedy"]]}}
    out = tmp_path / "figure3.csv"

    def build(*files):
        return subprocess.run([str(BIN / "weakdriven"), "table", "--settings", json.dumps(settings), "--scores",
                               *map(str, files), "--out", str(out)], capture_output=True, text=True)

    refused = build(m1)
    assert refused.returncode != 0 and not out.exists()
    assert "figure3 (scores): 1 of 2 cells" in refused.stderr and "('b', 42, 'wmss_lam0.5', 'GSM8K')" in refused.stderr
    built = build(m1, record(tmp_path, run="wmss_lam0.5", bench="GSM8K", accuracy=0.6))
    assert built.returncode == 0, built.stderr[-2000:]
    assert out.read_text().splitlines() == ["group,row,GSM8K,Avg.", "b,Epoch 1,30.0,30.0", "b,Epoch 2,60.0,60.0"]
