"""Generation records of one model on its benchmarks, then one score record per benchmark (the `generate`, `score`
and `eval_snapshots` rules all go through these functions)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .. import device as device_rule
from .. import paths
from ..benchmarks import BENCHMARKS
from ..checks import checked_checkpoint, read_json, write_atomic
from ..config import Evaluation
from ..data.chat import prompt_text, read_jsonl, write_jsonl
from ..data.gemma import wrap_for_vllm
from ..methods import M1, parse_run
from ..methods.equations import pass_at_k
from ..provenance import record, sidecar
from ..stages import EvalStage
from .code import judge_many, unpack_task
from .generation import PASS_KS, generate_transformers, generate_vllm
from .grading import grade_many

log = logging.getLogger(__name__)


class GraderError(RuntimeError):
    """More samples than the config allows got no verdict (a crashed judge or grader): no score is written."""


def benchmark_rows(path: str | Path) -> list[dict]:
    rows = list(read_jsonl(path, ("id", "question", "gold")))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def _requests(tokenizer, benchmark: str, rows: list[dict], stage: EvalStage, source: str):
    """Prompts of ``rows`` under ``stage`` and their token budget; prompts longer than ``max_prompt_tokens`` are
    refused up front, naming the rows of ``source``."""
    ev = stage.evaluation
    prompts = [prompt_text(tokenizer, r["question"], stage.prompt.system_prompt) for r in rows]
    too_long = [r["id"] for r, p in zip(rows, prompts, strict=True)
                if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > ev.max_prompt_tokens]
    if too_long:
        raise ValueError(f"{source}: prompts longer than max_prompt_tokens: {too_long[:5]}")
    max_new = ev.long_max_new_tokens if benchmark in ev.long_benchmarks else ev.max_new_tokens
    return prompts, [r["id"] for r in rows], max_new


def generate_records(model: str | Path, benchmark: str, rows: list[dict], stage: EvalStage, seed: int,
                     source: str) -> list[dict]:
    """Generation records of ``model`` on one benchmark's ``rows`` under an EvalStage (protocol, backend, prompt,
    lengths, device)."""
    return generate_many(model, {benchmark: (rows, stage, source)}, seed)[benchmark]


def generate_many(model: str | Path, requests: dict[str, tuple[list[dict], EvalStage, str]], seed: int
                  ) -> dict[str, list[dict]]:
    """Generation records of ``model`` per benchmark, ``requests``: benchmark -> (rows, EvalStage, source), the
    stages differing only in their prompt; every benchmark's prompts are checked before anything is generated. The
    transformers backend generates benchmark by benchmark, seeded alike (so a benchmark's records do not depend on
    its job's other benchmarks); vLLM takes every prompt in one call with per-request seeds."""
    from transformers import AutoTokenizer

    from ..training import checkpoint_sha256

    tokenizer = AutoTokenizer.from_pretrained(checked_checkpoint(model))
    prepared = {b: _requests(tokenizer, b, rows, stage, source) for b, (rows, stage, source) in requests.items()}
    stage = next(iter(requests.values()))[1]
    ev = stage.evaluation
    protocol = ev.sampling
    checkpoint = checkpoint_sha256(model)
    if ev.backend == "vllm":
        batches = list(prepared.values())
        if stage.prompt.family == "gemma" and stage.gemma_multimodal_base:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="weakdriven-gemma-") as tmp:  # vLLM loads Gemma-3 multimodal only
                wrapped = Path(tmp) / "wrapped"
                wrap_for_vllm(model, stage.gemma_multimodal_base, wrapped)
                records = generate_vllm(str(wrapped), batches, protocol, seed, checkpoint, stage.tensor_parallel)
        else:
            records = generate_vllm(str(model), batches, protocol, seed, checkpoint, stage.tensor_parallel)
        return dict(zip(prepared, records, strict=True))
    device = device_rule.job_device(stage.gpus)
    return {b: generate_transformers(model, prompts, ids, protocol, max_new, ev.batch_size, seed, checkpoint,
                                     device=device, bf16=stage.bf16)
            for b, (prompts, ids, max_new) in prepared.items()}


def score_records(benchmark: str, rows: list[dict], gens: list[dict], evaluation: Evaluation, source: str) -> dict:
    """Accuracy of generation records against the gold answers (mean over all samples = pass@1), the unbiased
    pass@k for Table 10's k up to the samples per prompt, truncation and grader-error rates. Code samples are run by
    their benchmark's judge in the sandbox (``evaluation.code``)."""

    gold = {r["id"]: r["gold"] for r in rows}
    unknown = [g["prompt_id"] for g in gens if g["prompt_id"] not in gold]
    if unknown or len({g["prompt_id"] for g in gens}) != len(gold):
        raise ValueError(f"{source} does not cover the benchmark one-to-one (e.g. {unknown[:3]})")
    if BENCHMARKS[benchmark].kind == "code":
        code = evaluation.code
        tasks = {r["id"]: unpack_task(r.get("task", ""), f"{source}: benchmark row {r['id']}") for r in rows}
        verdicts = judge_many([tasks[g["prompt_id"]] for g in gens], [g["text"] for g in gens],
                              code.workers, timeout_s=code.timeout_s, memory_mb=code.memory_mb,
                              isolation=code.isolation, test_timeout_s=code.test_timeout_s)
    else:
        options = {r["id"]: r.get("options") for r in rows}  # multiple choice: option texts name an answer too
        verdicts = grade_many(BENCHMARKS[benchmark].kind, [g["text"] for g in gens],
                              [gold[g["prompt_id"]] for g in gens], evaluation.grader_workers,
                              evaluation.grader_timeout_s, [options[g["prompt_id"]] for g in gens])
    errors = [(g["prompt_id"], err) for g, (_, err) in zip(gens, verdicts, strict=True) if err is not None]
    if len(errors) > evaluation.max_grader_errors:
        shown = "; ".join(f"{pid}: {err}" for pid, err in errors[:3])
        raise GraderError(f"{source}: {len(errors)} of {len(gens)} samples got no verdict from the grader (config "
                          f"key 'evaluation.max_grader_errors' allows {evaluation.max_grader_errors}), e.g. "
                          f"{shown}")
    correct = sum(ok for ok, _ in verdicts)
    per_prompt: dict[str, list[int]] = {}
    for g, (ok, _) in zip(gens, verdicts, strict=True):
        counts = per_prompt.setdefault(g["prompt_id"], [0, 0])
        counts[0] += 1
        counts[1] += bool(ok)
    sizes = sorted({n for n, _ in per_prompt.values()})
    if len(sizes) != 1:
        raise ValueError(f"{source}: prompts have different numbers of samples {sizes}")
    protocol = evaluation.sampling  # records of another protocol (or of its earlier definition) are not this cell's
    other = sorted({g["protocol"] for g in gens if g.get("protocol", protocol.name) != protocol.name})
    if other or sizes[0] != protocol.n:
        raise ValueError(f"{source}: records of protocol {other or [protocol.name]} with {sizes[0]} samples per "
                         f"prompt; protocol {protocol.name!r} (evaluation.protocols) draws {protocol.n}")
    drawn = {(g.get("temperature"), g.get("top_p"), g.get("top_k")) for g in gens} - {(None, None, None)}
    if drawn - {(protocol.temperature, protocol.top_p, protocol.top_k)}:
        raise ValueError(f"{source}: records sampled with (temperature, top_p, top_k) {sorted(drawn)}; protocol "
                         f"{protocol.name!r} (evaluation.protocols) samples with "
                         f"{(protocol.temperature, protocol.top_p, protocol.top_k)}")
    pass_k = {str(k): sum(pass_at_k(n, c, k) for n, c in per_prompt.values()) / len(per_prompt)
              for k in PASS_KS if k <= sizes[0]}
    return {
        "samples_per_prompt": sizes[0], "pass_at_k": pass_k,
        # per problem: its samples right (the paired tests of the diff's verdicts, tables/verdicts.py)
        "outcomes": {pid: c for pid, (_, c) in sorted(per_prompt.items())},
        "protocol": gens[0].get("protocol"), "n": len(gens), "correct": correct, "accuracy": correct / len(gens),
        "truncated": sum(g.get("finish_reason") == "length" for g in gens) / len(gens),
        "grader_errors": sum(err is not None for _, err in verdicts),
        "checkpoint_sha256": gens[0].get("checkpoint_sha256"),
    }


# ---- the stages the evaluation rules run ------------------------------------------------------------------------
def generate_stage(stage, model: str, benchmark_files: list[str], seed: int, out_dir: str) -> None:
    """Generation records of ``model`` on each benchmark of a GenerateStage (protocol, backend, prompts, lengths), one
    file per benchmark under ``out_dir`` (``benchmark_files``: the test sets, in the stage's benchmark order)."""

    names = stage.benchmarks
    if [Path(f).stem for f in benchmark_files] != list(names):  # paths.benchmark: <bench>.jsonl
        raise ValueError(f"benchmark files {benchmark_files} are not the stage's benchmarks {list(names)}, in order")
    requests = {b: (benchmark_rows(f), stage.for_benchmark(b), f)
                for b, f in zip(names, benchmark_files, strict=True)}
    records = generate_many(model, requests, seed)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for b in names:
        write_jsonl(Path(out_dir) / paths.generations_name(b), records[b])
        log.info("%s: %d records", b, len(records[b]))


def score_stage(stage, generations: str, benchmark: str, benchmark_file: str, backbone: str, seed: int, run: str,
                out: str) -> dict:
    """The score record of one cell (backbone, seed, run, benchmark) from its generation records."""
    method, lam = parse_run("sft" if run == M1 else run)
    if not Path(generations).is_file():
        raise FileNotFoundError(f"{generations}: the model's generation job made no {benchmark} records (it covers "
                                "the benchmarks the configured tables read of the model)")
    gens = list(read_jsonl(generations, ("prompt_id", "text")))
    scored = score_records(benchmark, benchmark_rows(benchmark_file), gens, stage.evaluation, generations)
    result = {"benchmark": benchmark, "backbone": backbone, "seed": seed, "run": run, "method": method.name,
              "lam": lam, **scored, "provenance": record(stage.to_json(), seed)}
    write_atomic(out, json.dumps(result, indent=1))
    log.info("%s %s: %d/%d correct", run, benchmark, scored["correct"], scored["n"])
    return result


def eval_snapshots_stage(stage, snapshots: str, final_scores: str, benchmark: str, benchmark_file: str,
                         backbone: str, seed: int, run: str, out: str) -> None:
    """Scores of a run's relative checkpoints on one benchmark, plus its final model's (read from its score file)."""
    import pandas as pd

    manifest = read_json(Path(snapshots) / "manifest.json")
    rows = benchmark_rows(benchmark_file)
    out_rows = []
    for label, info in manifest["snapshots"].items():
        if not info["saved"]:
            log.info("%s: step %d is past the run's %d steps; not evaluated", label, info["step"],
                     manifest["total_steps"])
            continue
        gens = generate_records(Path(snapshots) / label, benchmark, rows, stage, seed, benchmark_file)
        out_rows.append({"checkpoint": label, "step": info["step"],
                         **score_records(benchmark, rows, gens, stage.evaluation, f"{run} {label}")})
    # n counts samples: samples_per_prompt and the per-problem outcomes give the cells' intervals their problems
    scored = ["n", "correct", "accuracy", "truncated", "grader_errors", "protocol", "checkpoint_sha256",
              "samples_per_prompt", "outcomes"]
    final = read_json(final_scores)
    if (final["run"], final["benchmark"]) != (run, benchmark):
        raise ValueError(f"{final_scores} scores {final['run']} on {final['benchmark']}, not {run} on {benchmark}")
    out_rows.append({"checkpoint": "final", "step": manifest["total_steps"], **{k: final[k] for k in scored}})
    for row in out_rows:
        row["outcomes"] = json.dumps(row["outcomes"], sort_keys=True)
    frame = pd.DataFrame(out_rows).assign(backbone=backbone, seed=seed, run=run, benchmark=benchmark)
    frame[["backbone", "seed", "run", "benchmark", "checkpoint", "step", *scored]].to_csv(out, index=False)
    sidecar(out).write_text(json.dumps(record(stage.to_json(), seed), indent=1))
