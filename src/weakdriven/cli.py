"""``weakdriven`` console script: one subcommand per workflow stage (the Snakemake rules call these).

Each stage takes its settings as one JSON object (``--settings``), built by workflow/rules/common.smk from the config.
Run ``weakdriven <stage> --help`` for the options of a stage.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from pathlib import Path

from .settings import TrainSettings

log = logging.getLogger("weakdriven")


def _settings(args) -> dict:
    return json.loads(args.settings) if args.settings else {}


def _provenance(args, seed=None) -> dict:
    from .provenance import record

    return record(getattr(args, "settings", None), seed if seed is not None else getattr(args, "seed", None))


def _stamp(path: Path, args) -> None:
    """Add this job's provenance record to a JSON output (a training summary); under a launcher, in the main process
    only (it alone writes the outputs)."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    data = json.loads(path.read_text())
    data["provenance"] = _provenance(args)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def _cite(out: str | Path, inputs: list[str], args) -> None:
    """``<table>.provenance.json`` beside a table: its own record and the provenance of every input it was built
    from."""
    from .provenance import sidecar, table_provenance

    sidecar(out).write_text(json.dumps(table_provenance(inputs, getattr(args, "settings", None)), indent=1))


def _examples(path: str, s: dict):
    """Training records; a Gemma backbone trains on them without their <think>/<answer> tags (App. E.4)."""
    from dataclasses import replace

    from .data.chat import load_examples
    from .data.gemma import strip_tags

    examples = load_examples(path)
    if s.get("family") == "gemma":
        examples = [replace(ex, completion=strip_tags(ex.completion)) for ex in examples]
    return examples


def _refuse_overwrite(path: str) -> None:
    if Path(path).exists():
        raise FileExistsError(f"{path} exists; remove it (or let Snakemake rerun the rule) rather than overwrite it")


def cmd_make_embedded(args) -> None:
    from .data.embedded import make_embedded_data

    s = _settings(args)["train_data"]
    make_embedded_data(args.out_root, n_train=s["n_train"], n_test=s["n_test"], n_pretrain=s["n_pretrain"],
                       seed=s["seed"])


def cmd_prepare_train(args) -> None:
    from .data.am import PAPER_SUBSETS, REASONS, am_files, check_kept_count, filter_math_rows, iter_am_rows
    from .data.chat import write_jsonl

    s = _settings(args)["train_data"]
    files = am_files(s["source"], s.get("hub_id"), s.get("revision"), s.get("path"),
                     s.get("subsets", PAPER_SUBSETS))
    log.info("AM rows from %s", [str(f) for _, f in files])
    kept, counts = filter_math_rows(iter_am_rows(files))
    for reason in REASONS:
        log.info("AM math filter: %-20s %9d", reason, counts[reason])
    check_kept_count(counts, s.get("expected_rows"))
    write_jsonl(args.out, kept[: s["max_rows"]] if s["max_rows"] else kept)


def cmd_fetch_benchmarks(args) -> None:
    """Download the paper's test sets from their pinned sources into the benchmark directory (run it where there is
    internet, e.g. a login node); sets without a direct download are named with where to get them."""
    from .benchmarks import BENCHMARKS, fetch_benchmark

    names = args.benchmarks or [b for b, spec in BENCHMARKS.items() if spec.file is not None]
    missing = []
    for name in names:
        if name not in BENCHMARKS or BENCHMARKS[name].file is None:
            raise ValueError(f"{name!r} is not a paper benchmark; known: {sorted(BENCHMARKS)}")
        try:
            print(f"{name}: {fetch_benchmark(name, args.benchmark_dir)} (checked)")
        except (ValueError, OSError) as err:
            missing.append(name)
            print(f"{name}: NOT FETCHED: {err}")
    if missing:
        raise SystemExit(f"{len(missing)} of {len(names)} test sets are not in {args.benchmark_dir}: {missing}")


def cmd_prefetch(args) -> None:
    """Download every pinned backbone, the training data and the benchmarks (run it where there is internet)."""
    from .config import load_config
    from .prefetch import prefetch_to

    exp = load_config(args.configfile)
    prefetch_to(exp, args.out)
    print(f"everything is in the cache (HF_HOME) and {exp.benchmark_dir}; jobs can run with HF_HUB_OFFLINE=1; "
          f"record: {args.out}")


def cmd_prepare_benchmark(args) -> None:
    from .benchmarks import load_benchmark
    from .data.chat import write_jsonl

    write_jsonl(args.out, load_benchmark(args.benchmark, args.benchmark_dir, verify_sha256=not args.no_verify))


def _copy_backbone(b: dict, source: Path, out: Path) -> None:
    """M0 as training loads it. A multimodal Gemma-3 (the hub's gemma-3-4b-pt) becomes its text-only
    Gemma3ForCausalLM with the fallback chat template; the original is kept in ``multimodal/`` for the vLLM wrap."""
    if b["family"] == "gemma" and "text_config" in json.loads((source / "config.json").read_text()):
        from .data.gemma import text_only_checkpoint

        text_only_checkpoint(source, out)
        shutil.copytree(source, out / "multimodal")
    else:
        shutil.copytree(source, out)


def cmd_init_backbone(args) -> None:
    """M0: download the pinned hub snapshot, copy a local checkpoint, or build and pre-train the embedded model."""
    s = _settings(args)
    b = s["backbone"]
    out = Path(args.out)
    if b["source"] == "hub":
        from huggingface_hub import snapshot_download

        # Into the shared HF cache (reused across jobs; HF_HUB_OFFLINE=1 reads only the cache), then copied.
        snapshot = snapshot_download(b["hub_id"], revision=b["revision"],
                                     allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"])
        if not (Path(snapshot) / "config.json").is_file():
            raise FileNotFoundError(f"{b['hub_id']}@{b['revision']}: the snapshot has no config.json")
        _copy_backbone(b, Path(snapshot), out)
    elif b["source"] == "local":
        if not (Path(b["path"]) / "config.json").is_file():
            raise FileNotFoundError(f"config key 'backbones[{b['name']}].path': {b['path']} has no config.json")
        _copy_backbone(b, Path(b["path"]), out)
    else:
        from .data.embedded import build_tiny_model, build_tokenizer
        from .training import encode_corpus, train_causal_lm

        tokenizer = build_tokenizer([args.corpus, args.train])
        model = build_tiny_model(tokenizer, b["architecture"], seed=b["pretrain"]["seed"])
        lines = Path(args.corpus).read_text().splitlines()
        p = b["pretrain"]
        settings = TrainSettings.from_dict(s["training"], epochs=p["epochs"], seed=p["seed"],
                                           learning_rate=p["learning_rate"], per_device_batch_size=p["batch_size"],
                                           global_batch_size=p["batch_size"])
        train_causal_lm(model, tokenizer, encode_corpus(tokenizer, lines, settings.max_length), settings, out)


def _keep_snapshots(args, s: dict, n_rows: int):
    """The relative checkpoints (settings' ``snapshots`` labels) a training stage keeps under ``--snapshots-out``."""
    from .training import Keep, relative_checkpoint_steps

    if not args.snapshots_out:
        return Keep()
    _refuse_overwrite(args.snapshots_out)
    steps = relative_checkpoint_steps(s["snapshots"], n_rows, s["training"]["global_batch_size"],
                                      s["trajectory"]["reference_epoch_steps"])
    return Keep(steps=steps, snapshots_out=args.snapshots_out)


def cmd_train_sft(args) -> None:
    from .methods.sft import run_sft

    s = _settings(args)
    examples = _examples(args.data, s)
    settings = TrainSettings.from_dict(s["training"], epochs=args.epochs, seed=args.seed)
    run_sft(args.base, examples, s["system_prompt"], settings, args.out,
            m1_out=args.m1_out, snapshots=_keep_snapshots(args, s, len(examples)))
    _stamp(Path(args.out) / "train_summary.json", args)


def cmd_entropy(args) -> None:
    from .data.chat import write_jsonl
    from .device import job_device
    from .methods.wdds import shard_bounds
    from .training import completion_entropies, load_causal_lm

    s = _settings(args)
    w = s["wmss"]
    examples = _examples(args.data, s)
    start, end = shard_bounds(len(examples), args.shard, args.shards)
    model, tokenizer = load_causal_lm(args.model, bf16=s["training"]["bf16"],
                                      attn_implementation=s["training"]["attn_implementation"],
                                      device=job_device(s["gpus"]))
    rows = completion_entropies(model, tokenizer, examples[start:end],
                                s["system_prompt"] if w["entropy_system_prompt"] else None, w["entropy_max_length"])
    write_jsonl(args.out, rows)


def cmd_merge_entropy(args) -> None:
    from .data.chat import load_examples, read_jsonl, write_jsonl
    from .methods.wdds import merge_entropy_shards

    shards = {path: list(read_jsonl(path, ("id",))) for path in args.shards}
    write_jsonl(args.out, merge_entropy_shards(shards, [ex.id for ex in load_examples(args.data)]))


def cmd_wdds_select(args) -> None:
    from .methods.wdds import read_entropies, select_active

    w = _settings(args)["wmss"]
    weak, strong = read_entropies(args.weak), read_entropies(args.strong)
    result = select_active(weak, strong, w["alpha"], w["beta"], w["gamma"], w["formula"], w["dedup"],
                           w["sampling_seed"], source=f"{args.weak} and {args.strong}")
    # Fig. 4 / Sec. 6.5: optimizer steps of one joint stage on the active set vs on the full set (123 vs 218 there)
    t = _settings(args)["training"]
    result["steps_active"] = math.ceil(result["n_active"] / t["global_batch_size"] * t["joint_epochs"])
    result["steps_full"] = math.ceil(result["n_pool"] / t["global_batch_size"] * t["joint_epochs"])
    result["active_step_fraction"] = result["steps_active"] / result["steps_full"]
    result["settings"] = w
    Path(args.out).write_text(json.dumps(result, indent=1))
    log.info("WD-DS: %d active of %d (%d unique)", result["n_active"], result["n_pool"], result["n_unique"])


def cmd_train(args) -> None:
    """Every method but sft: the method plug-in trains from the start models the workflow resolved for it."""
    from .checks import read_json
    from .methods import Run, TrainJob
    from .methods.wdds import resolve_active

    s = _settings(args)
    run = Run.parse(args.run)
    examples = _examples(args.data, s)
    keep = _keep_snapshots(args, s, len(examples))  # ck labels count steps of a full-data epoch
    if run.method.data == "wdds":
        if not args.active:
            raise ValueError(f"run {args.run} trains on the WD-DS active set: pass --active")
        examples = resolve_active(examples, read_json(args.active)["ids"], args.active)
    if run.method.loss == "mixed" and not args.weak:
        raise ValueError(f"run {args.run} trains a weak/strong pair: pass --weak")
    job = TrainJob(run=run, strong=args.strong, weak=args.weak, examples=examples, system_prompt=s["system_prompt"],
                   settings=TrainSettings.from_dict(s["training"], seed=args.seed), out=args.out, keep=keep,
                   options=s["wmss"])
    run.method.train(job)
    _stamp(Path(args.out) / "train_summary.json", args)


def cmd_generate(args) -> None:
    from .data.chat import write_jsonl
    from .eval.pipeline import benchmark_rows, generate_records

    rows = benchmark_rows(args.benchmark_file)
    write_jsonl(args.out, generate_records(args.model, args.benchmark, rows, _settings(args), args.seed,
                                           args.benchmark_file))


def cmd_score(args) -> None:
    from .data.chat import read_jsonl
    from .eval.pipeline import benchmark_rows, score_records
    from .methods import M1, parse_run

    ev = _settings(args)["evaluation"]
    method, lam = parse_run("sft" if args.run == M1 else args.run)
    gens = list(read_jsonl(args.generations, ("prompt_id", "text")))
    scored = score_records(args.benchmark, benchmark_rows(args.benchmark_file), gens, ev, args.generations)
    result = {"benchmark": args.benchmark, "backbone": args.backbone, "seed": args.seed, "run": args.run,
              "method": method.name, "lam": lam, **scored, "provenance": _provenance(args)}
    from .checks import write_atomic

    write_atomic(args.out, json.dumps(result, indent=1))
    log.info("%s %s: %d/%d correct", args.run, args.benchmark, scored["correct"], scored["n"])


def cmd_eval_snapshots(args) -> None:
    """Scores of a run's relative checkpoints on one benchmark, plus its final model's (read from its score file)."""
    import pandas as pd

    from .eval.pipeline import benchmark_rows, generate_records, score_records

    s = _settings(args)
    from .checks import read_json

    manifest = read_json(Path(args.snapshots) / "manifest.json")
    rows = benchmark_rows(args.benchmark_file)
    out = []
    for label, info in manifest["snapshots"].items():
        if not info["saved"]:
            log.info("%s: step %d is past the run's %d steps; not evaluated", label, info["step"],
                     manifest["total_steps"])
            continue
        gens = generate_records(Path(args.snapshots) / label, args.benchmark, rows, s, args.seed, args.benchmark_file)
        out.append({"checkpoint": label, "step": info["step"],
                    **score_records(args.benchmark, rows, gens, s["evaluation"], f"{args.run} {label}")})
    scored = ["n", "correct", "accuracy", "truncated", "grader_errors", "protocol", "checkpoint_sha256"]
    final = read_json(args.final_scores)
    if (final["run"], final["benchmark"]) != (args.run, args.benchmark):
        raise ValueError(f"{args.final_scores} scores {final['run']} on {final['benchmark']}, not {args.run} on "
                         f"{args.benchmark}")
    out.append({"checkpoint": "final", "step": manifest["total_steps"], **{k: final[k] for k in scored}})
    frame = pd.DataFrame(out).assign(backbone=args.backbone, seed=args.seed, run=args.run, benchmark=args.benchmark)
    frame[["backbone", "seed", "run", "benchmark", "checkpoint", "step", *scored]].to_csv(args.out, index=False)
    from .provenance import sidecar

    sidecar(args.out).write_text(json.dumps(_provenance(args), indent=1))


def cmd_logit_stats(args) -> None:
    from .device import job_device
    from .diagnostics import crossover_from_stats, model_logit_statistics, sample_examples, table6, table7
    from .training import load_causal_lm

    s = _settings(args)
    d = s["diagnostics"]
    examples = sample_examples(_examples(args.data, s), d["n_examples"], d["seed"])
    device = job_device(s["gpus"])
    stats = {}
    for name, path in (("weak_init", args.weak), ("strong_pre", args.strong_pre), ("strong_post", args.strong_post),
                       ("sft", args.sft)):
        model, tokenizer = load_causal_lm(path, bf16=s["bf16"], device=device)
        stats[name] = model_logit_statistics(model, tokenizer, examples, s["system_prompt"], s["max_length"])
        log.info("logit statistics of %s (%s): %s", name, path, stats[name])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table6(stats["sft"], stats["strong_post"]).to_csv(out / "table6.csv", index=False)
    table7(stats["weak_init"], stats["strong_pre"], stats["strong_post"]).to_csv(out / "table7.csv", index=False)
    stats["lambda_crossover"] = crossover_from_stats(stats["strong_pre"], stats["weak_init"])
    stats["n_examples"] = d["n_examples"]
    stats["provenance"] = _provenance(args, seed=d["seed"])
    (out / "logit_stats.json").write_text(json.dumps(stats, indent=1))
    summaries = [str(Path(p) / "train_summary.json") for p in (args.weak, args.strong_pre, args.strong_post, args.sft)
                 if (Path(p) / "train_summary.json").is_file()]  # M0 and M1 carry none: M1 is inside the SFT run
    for table in ("table6.csv", "table7.csv"):
        _cite(out / table, summaries, args)


def cmd_entropy_gap(args) -> None:
    """Figure 5's entropy separation of a weak/strong pair: mean and std over samples of H_weak - H_strong."""
    import numpy as np

    from .methods.wdds import read_entropies

    weak, strong = read_entropies(args.weak), read_entropies(args.strong)
    if weak.keys() != strong.keys():
        raise ValueError(f"{args.weak} and {args.strong} cover different sample ids, "
                         f"e.g. {sorted(weak.keys() ^ strong.keys())[:5]}")
    gap = np.array([weak[i] - strong[i] for i in weak])
    Path(args.out).write_text(json.dumps({
        "backbone": args.backbone, "seed": args.seed, "weak": args.weak_label, "n": int(gap.size),
        "h_weak_mean": float(np.mean(list(weak.values()))), "h_strong_mean": float(np.mean(list(strong.values()))),
        "delta_h_mean": float(gap.mean()), "delta_h_std": float(gap.std()),
    }, indent=1))


def cmd_table(args) -> None:
    """One paper artifact from exactly the inputs it declares (tables/<name>.py); every cell must be there once."""
    from .checks import write_atomic
    from .tables import TABLES, Needs
    from .tables.base import build

    s = _settings(args)
    files = {"scores": args.scores, "snapshots": args.snapshots, "gaps": args.gaps, "files": args.files}
    wide = build(TABLES[args.table], s["spec"], Needs.from_dict(s["needs"]), files)
    write_atomic(args.out, wide.to_csv(index=False))
    _cite(args.out, [*args.snapshots, *args.scores, *args.files], args)


def cmd_table_diff(args) -> None:
    """One built table against the paper's reported numbers, cell by cell."""
    from .checks import write_atomic
    from .tables.diff import diff_against_paper, read_table

    s = _settings(args)
    diff = diff_against_paper(Path(args.table).stem, read_table(args.table), s["comparable_with_paper"])
    write_atomic(args.out, diff.to_csv(index=False))


def cmd_diff(args) -> None:
    """Every built table against the paper's reported numbers, with the paper's own averages re-computed."""
    from .tables.diff import write_diff

    s = _settings(args)
    write_diff(args.tables, args.out_dir, s["name"], s["comparable_with_paper"])


def cmd_cost(args) -> None:
    """The jobs a target still needs and their estimated GPU-hours (config section ``cost``)."""
    from .config import load_config
    from .cost import cost_table, dry_run_jobs

    configfile = args.configfile or "config/config.yaml"
    exp = load_config(configfile)
    jobs = dry_run_jobs(args.targets, args.configfile)
    table = cost_table(jobs, exp)
    print(table.to_string(index=False))
    total = table.iloc[-1]
    print(f"{', '.join(args.targets) or 'all'}: {total.jobs} jobs not done yet, {total.gpu_hours:.1f} GPU-hours "
          f"(estimate from {configfile}: cost)")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="weakdriven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)

    def stage(name, func, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--settings", help="JSON settings built from the config by the workflow")
        p.set_defaults(func=func)
        return p

    def snapshot_options(p):
        p.add_argument("--snapshots-out", help="keep the settings' relative checkpoints here (with a manifest.json)")

    p = stage("make-embedded", cmd_make_embedded, "write the embedded preset's synthetic data")
    p.add_argument("--out-root", required=True)
    p = stage("prepare-train", cmd_prepare_train, "load + filter the AM-1.4M math subset into train.jsonl")
    p.add_argument("--out", required=True)
    p = stage("prepare-benchmark", cmd_prepare_benchmark, "normalise one benchmark test set")
    p.add_argument("--benchmark", required=True)
    p.add_argument("--benchmark-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--no-verify", action="store_true", help="accept a test set whose sha256 differs from the paper's")
    p = stage("prefetch", cmd_prefetch, "download the pinned backbones, training data and test sets (login node)")
    p.add_argument("--configfile", default="config/config.yaml", help="the experiment (default: the paper's)")
    p.add_argument("--out", default="resources/prefetch.json", help="the record of what is cached (JSON)")
    p = stage("fetch-benchmarks", cmd_fetch_benchmarks, "download the test sets from their pinned sources")
    p.add_argument("--benchmark-dir", required=True)
    p.add_argument("--benchmarks", nargs="*", help="names as in the paper's tables (default: all)")
    p = stage("init-backbone", cmd_init_backbone, "M0: hub snapshot, local copy, or pre-trained embedded model")
    p.add_argument("--out", required=True)
    p.add_argument("--corpus", help="embedded only: pre-training corpus")
    p.add_argument("--train", help="embedded only: training set (tokenizer vocabulary)")
    p = stage("train-sft", cmd_train_sft, "completion-only SFT of M0; optionally keep its epoch-1 checkpoint as M1")
    for opt in ("--base", "--data", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--m1-out", help="save the epoch-1 checkpoint here (training.m1_from: sft_epoch1)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    snapshot_options(p)
    p = stage("entropy", cmd_entropy, "WD-DS token-averaged completion entropies (Eq. 7) of one shard")
    for opt in ("--model", "--data", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--shard", type=int, default=0, help="which contiguous block of the training set (0-based)")
    p.add_argument("--shards", type=int, default=1, help="number of blocks the training set is split into")
    p = stage("merge-entropy", cmd_merge_entropy, "merge entropy shards by sample id (complete, no duplicates)")
    p.add_argument("--shards", nargs="+", required=True)
    for opt in ("--data", "--out"):
        p.add_argument(opt, required=True)
    p = stage("wdds-select", cmd_wdds_select, "WD-DS sampling weights (Eq. 9) and the active set")
    for opt in ("--weak", "--strong", "--out"):
        p.add_argument(opt, required=True)
    p = stage("train", cmd_train, "every method but sft: one run from its start model(s)")
    for opt in ("--run", "--strong", "--data", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--weak", help="the weak start (mixed-logit methods)")
    p.add_argument("--active", help="WD-DS active set (methods that use it)")
    p.add_argument("--seed", type=int, required=True)
    snapshot_options(p)
    p = stage("generate", cmd_generate, "generations of one model on one benchmark")
    for opt in ("--model", "--benchmark", "--benchmark-file", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("score", cmd_score, "grade generations; pass@1 with truncation and grader-error rates")
    for opt in ("--generations", "--benchmark", "--benchmark-file", "--backbone", "--run", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("eval-snapshots", cmd_eval_snapshots, "scores of a run's relative checkpoints on one benchmark")
    for opt in ("--snapshots", "--final-scores", "--benchmark", "--benchmark-file", "--backbone", "--run", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("logit-stats", cmd_logit_stats, "Table 6/7 logit statistics of M0, M1, WMSS and SFT")
    for opt in ("--weak", "--strong-pre", "--strong-post", "--sft", "--data", "--out-dir"):
        p.add_argument(opt, required=True)
    p = stage("entropy-gap", cmd_entropy_gap, "Figure 5: entropy separation of a weak/strong pair")
    for opt in ("--weak", "--strong", "--backbone", "--weak-label", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("cost", cmd_cost, "GPU-hours of the jobs a target still needs (run in the repository root)")
    p.add_argument("targets", nargs="*", help="Snakemake targets (tables, figures, one cell's score file); none: all")
    p.add_argument("--configfile", help="the experiment config (default: config/config.yaml)")
    p = stage("table", cmd_table, "one paper table or figure from the inputs it declares")
    p.add_argument("--table", required=True, help="a registered table (weakdriven.tables.TABLES)")
    p.add_argument("--scores", nargs="*", default=[], help="score records")
    p.add_argument("--snapshots", nargs="*", default=[], help="snapshot score CSVs (eval-snapshots)")
    p.add_argument("--gaps", nargs="*", default=[], help="entropy-gap records (Figure 5)")
    p.add_argument("--files", nargs="*", default=[], help="other inputs (the diagnostics' Tables 6 and 7)")
    p.add_argument("--out", required=True)
    p = stage("table-diff", cmd_table_diff, "one built table against the paper, cell by cell")
    p.add_argument("--table", required=True, help="the table CSV, named <table>.csv")
    p.add_argument("--out", required=True)
    p = stage("diff", cmd_diff, "every built table against the paper; diff.csv, diff.md, paper_consistency.csv")
    p.add_argument("--tables", nargs="+", required=True, help="table CSVs named <table>.csv (table1 ... figure5)")
    p.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
