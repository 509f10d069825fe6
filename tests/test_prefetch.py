"""`weakdriven prefetch` fills the cache a run needs, and the workflow's download rules then run offline from it.

No hub can be reached here: the "hub" is an offline Hugging Face cache that already holds the pinned revisions (as on
a login node after a first prefetch). The test checks that prefetch resolves every pinned item of the experiment
through that cache, names what is missing, and that init_backbone and prepare_train_data then run with
HF_HUB_OFFLINE=1 and the prefetch record as their input.
"""

import json
import os
import shutil
import subprocess

import pytest
import yaml
from conftest import BENCHMARK_DATA, BIN, snakemake, workflow_copy
from test_backbones import REVISION, tiny_checkpoint
from test_data import AM_REVISION, am_hub_files
from test_fetch import REVISION as DATASET_REVISION
from test_fetch import hf_cache

pytestmark = pytest.mark.skipif(not (BENCHMARK_DATA / "gsm8k.json").is_file(),
                                reason="the real test sets (their sha256 is checked) are not beside the repo")


def _cache(tmp_path):
    cache = tmp_path / "hf"
    ckpt, _ = tiny_checkpoint(tmp_path)
    model = cache / "hub" / "models--acme--tiny-base"
    (model / "snapshots" / REVISION).mkdir(parents=True)
    for f in ckpt.iterdir():
        shutil.copy(f, model / "snapshots" / REVISION / f.name)
    (model / "refs").mkdir()
    (model / "refs" / "main").write_text(REVISION)
    hf_cache(cache, "a-m-team/AM-DeepSeek-R1-Distilled-1.4M", am_hub_files())
    am = cache / "hub" / "datasets--a-m-team--AM-DeepSeek-R1-Distilled-1.4M" / "snapshots"
    (am / DATASET_REVISION).rename(am / AM_REVISION)
    hf_cache(cache, "HuggingFaceH4/MATH-500", {"test.jsonl": (BENCHMARK_DATA / "math500.jsonl").read_bytes()})
    return cache


def _config(paper_raw, tmp_path):
    raw = dict(paper_raw, name="offline")
    raw["backbones"] = [{"name": "tiny", "source": "hub", "hub_id": "acme/tiny-base", "revision": REVISION,
                         "family": "qwen", "params_b": 0.001}]
    raw["train_data"] = dict(raw["train_data"], expected_rows=None)
    for domain in ("code_data", "logic_data"):  # the math set alone (the logic downloads: their own test below)
        raw.pop(domain)
    raw["tables"] = {"table1": {"backbones": ["tiny"], "methods": ["sft"], "benchmarks": ["MATH500", "GSM8K"]}}
    raw["diagnostics"] = dict(raw["diagnostics"], backbones=[])
    raw["benchmark_dir"] = str(tmp_path / "benchmarks")
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(BENCHMARK_DATA / "gsm8k.json", tmp_path / "benchmarks" / "gsm8k.json")  # a manual set, in place
    path = tmp_path / "offline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_prefetch_fills_the_cache_and_the_download_rules_run_offline(paper_raw, tmp_path):
    cache = _cache(tmp_path)
    config = _config(paper_raw, tmp_path)
    env = dict(os.environ, HF_HOME=str(cache), HF_HUB_OFFLINE="1", PATH=f"{BIN}:{os.environ['PATH']}")
    out = tmp_path / "prefetch.json"
    done = subprocess.run([str(BIN / "weakdriven"), "prefetch", "--configfile", str(config), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    items = {(i["kind"], i["name"]): i for i in json.loads(out.read_text())["items"]}
    assert set(items) == {("backbone", "tiny"), ("train_data", "train_data"), ("benchmark", "GSM8K"),
                          ("benchmark", "MATH500")}
    backbone = items[("backbone", "tiny")]
    assert backbone["revision"] == REVISION and backbone["path"].endswith(REVISION)
    math500 = (tmp_path / "benchmarks" / "math500.jsonl").read_bytes()
    assert math500 == (BENCHMARK_DATA / "math500.jsonl").read_bytes()

    # The workflow: prefetch is a local rule whose record the download rules wait for; then they run offline
    (tmp_path / "wf").mkdir()
    work = workflow_copy(tmp_path / "wf")
    result = snakemake(work, "--configfile", str(config), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule prefetch:" in result.stdout
    result = snakemake(work, "results/offline/models/tiny/base", "results/offline/data/math/train.jsonl",
                       "--cores", "1", "--configfile", str(config), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "results" / "offline" / "models" / "tiny" / "base" / "config.json").is_file()
    assert len((work / "results" / "offline" / "data" / "math" / "train.jsonl").read_text().splitlines()) == 3
    record = json.loads((work / "results" / "offline" / "prefetch.json").read_text())
    assert len(record["items"]) == 4


def test_prefetch_names_everything_it_could_not_fetch(paper_raw, tmp_path):
    cache = _cache(tmp_path)
    config = _config(paper_raw, tmp_path)
    (tmp_path / "benchmarks" / "gsm8k.json").unlink()  # the authors' bundled set has no download
    shutil.rmtree(cache / "hub" / "models--acme--tiny-base")  # and the backbone was never fetched
    env = dict(os.environ, HF_HOME=str(cache), HF_HUB_OFFLINE="1")
    out = tmp_path / "prefetch.json"
    failed = subprocess.run([str(BIN / "weakdriven"), "prefetch", "--configfile", str(config), "--out", str(out)],
                            capture_output=True, text=True, env=env)
    assert failed.returncode != 0 and not out.exists()
    assert "2 of 4 downloads are missing" in failed.stderr
    assert "backbone tiny (acme/tiny-base@" in failed.stderr and "benchmark GSM8K" in failed.stderr


@pytest.mark.skipif(not (BENCHMARK_DATA / "logiqa2_test.jsonl").is_file(),
                    reason="the real LogiQA 2.0 test set is not beside the repo")
def test_the_logic_sources_are_pinned_and_checked_and_the_manual_ones_named(paper_raw, tmp_path, monkeypatch):
    import io
    import urllib.request

    from weakdriven.config import Experiment
    from weakdriven.data import logic
    from weakdriven.prefetch import items

    kinds = {(i.kind, i.name, i.revision) for i in items(Experiment.from_dict(paper_raw))}
    assert ("teacher", "Qwen/Qwen3-32B", "9216db5781bf21249d130ec9da846c4624c16137") in kinds
    assert ("logic_data", "logic_data", None) in kinds
    root = tmp_path / "logic"
    (root / "logiqa2").mkdir(parents=True)
    shutil.copy(BENCHMARK_DATA / "logiqa2_test.jsonl", root / "logiqa2" / "test.txt")  # the pinned test.txt: kept
    asked = []

    def urlopen(url, timeout):
        asked.append(url.rsplit("/", 1)[1])
        return io.BytesIO(b"not the release\n")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(ValueError, match=r"LogiQA 2.0 train.txt at 955e1d3d: sha256 .* is not 98eb412e"):
        logic.fetch_raw(root)
    assert asked == ["train.txt"] and not (root / "logiqa2" / "train.txt").exists()
    monkeypatch.setattr(logic, "LOGIQA2_SHA256", {"test.txt": logic.LOGIQA2_SHA256["test.txt"]})
    with pytest.raises(FileNotFoundError, match=r"reclor/train.json.*missing: put the ReClor release zip"):
        logic.fetch_raw(root)
