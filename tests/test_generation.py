"""One generation job per model and protocol: every benchmark its tables read, one records file each, the same
records as one benchmark at a time (transformers), and one engine start for all of them (vLLM)."""

import json
import sys
import types
from dataclasses import replace

import pytest
from conftest import eval_stage

from weakdriven.cli import main
from weakdriven.data.chat import read_jsonl
from weakdriven.eval.pipeline import benchmark_rows, generate_records
from weakdriven.stages import GenerateStage

ONE = eval_stage(prompt="Answer.", protocol="sampled-3x", long_benchmarks=("synth-add",), max_new_tokens=6,
                 long_max_new_tokens=9, batch_size=4)


def stage(backend="transformers", benchmarks=("synth-next", "synth-add")):
    return GenerateStage(benchmarks, replace(ONE.evaluation, backend=backend), {b: ONE.prompt for b in benchmarks},
                         gpus=0, bf16=False, tensor_parallel=1, gemma_multimodal_base=None)


def test_one_job_writes_each_benchmarks_records_as_a_job_of_its_own_would(tiny_training_inputs, tmp_path):
    root = tiny_training_inputs
    files = [str(root / "benchmarks" / f"{b}.jsonl") for b in ("synth-next", "synth-add")]
    main(["generate", "--settings", stage().to_json(), "--model", str(root / "base"), "--benchmark-files", *files,
          "--seed", "3", "--out-dir", str(tmp_path / "gen")])
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["synth-add.jsonl", "synth-next.jsonl"]
    for bench, file in zip(("synth-next", "synth-add"), files, strict=True):
        alone = generate_records(root / "base", bench, benchmark_rows(file), ONE, 3, file)
        together = list(read_jsonl(tmp_path / "gen" / f"{bench}.jsonl", ("prompt_id", "text")))
        assert together == alone  # sampled at T 0.5: the same seed per benchmark, whatever the job's other sets
        assert len(together) == 5 * 3 and {r["protocol"] for r in together} == {"sampled-3x"}
        # synth-add is a long benchmark here: its own token budget
        assert max(r["completion_tokens"] for r in together) <= (9 if bench == "synth-add" else 6)


def test_benchmark_files_must_be_the_stages_benchmarks_in_order(tiny_training_inputs, tmp_path):
    root = tiny_training_inputs
    files = [str(root / "benchmarks" / f"{b}.jsonl") for b in ("synth-add", "synth-next")]
    with pytest.raises(ValueError, match=r"are not the stage's benchmarks \['synth-next', 'synth-add'\]"):
        main(["generate", "--settings", stage().to_json(), "--model", str(root / "base"), "--benchmark-files",
              *files, "--seed", "3", "--out-dir", str(tmp_path / "gen")])
    assert not (tmp_path / "gen").exists()


def test_a_score_job_names_a_benchmark_its_generation_job_did_not_cover(tmp_path):
    from weakdriven.eval.pipeline import score_stage

    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "a", "question": "q", "gold": "1"}) + "\n")
    with pytest.raises(FileNotFoundError, match="made no synth-copy records"):
        score_stage(None, str(tmp_path / "gen" / "synth-copy.jsonl"), "synth-copy",
                    str(tmp_path / "b.jsonl"), "b", 1, "sft", str(tmp_path / "s.json"))


def test_vllm_takes_every_benchmark_in_one_engine_with_its_own_budget_and_seed(tiny_training_inputs, tmp_path,
                                                                              monkeypatch):
    """vLLM is not installed on CPU machines: a stand-in module records how the backend drives it."""
    calls = {"engines": 0}

    class SamplingParams:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class LLM:
        def __init__(self, model, **kw):
            calls["engines"] += 1
            calls["engine"] = kw

        def generate(self, prompts, params):
            calls["prompts"], calls["params"] = prompts, params
            out = types.SimpleNamespace
            return [out(prompt_token_ids=[0] * 3, outputs=[
                out(text=f"{i}:{k}", token_ids=[1] * p.max_tokens, finish_reason="length") for k in range(p.n)])
                for i, p in enumerate(params)]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    root = tiny_training_inputs
    files = [str(root / "benchmarks" / f"{b}.jsonl") for b in ("synth-next", "synth-add")]
    main(["generate", "--settings", stage("vllm").to_json(), "--model",
          str(root / "base"), "--benchmark-files", *files, "--seed", "3", "--out-dir", str(tmp_path / "gen")])
    assert calls["engines"] == 1 and calls["engine"]["seed"] == 3 and len(calls["prompts"]) == 10
    assert [p.max_tokens for p in calls["params"]] == [6] * 5 + [9] * 5
    assert {(p.seed, p.n, p.temperature, p.top_p) for p in calls["params"]} == {(3, 3, 0.5, 0.95)}
    nxt = list(read_jsonl(tmp_path / "gen" / "synth-next.jsonl", ("prompt_id", "text")))
    add = list(read_jsonl(tmp_path / "gen" / "synth-add.jsonl", ("prompt_id", "text")))
    assert [r["text"] for r in nxt[:3]] == ["0:0", "0:1", "0:2"] and add[0]["text"] == "5:0"
    assert [r["prompt_id"] for r in add[::3]] == [f"synth-add-{i}" for i in range(5)]
    assert {r["completion_tokens"] for r in add} == {9} and {r["finish_reason"] for r in nxt} == {"length"}
