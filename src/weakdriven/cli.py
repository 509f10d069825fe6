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

log = logging.getLogger("weakdriven")


def _settings(args) -> dict:
    return json.loads(args.settings) if args.settings else {}


def _train_settings(s: dict, epochs: float, seed: int, **overrides):
    """TrainSettings from the ``training`` settings of a rule (``overrides`` replace keys it does not carry)."""
    from dataclasses import fields

    from .training import TrainSettings

    t = {**s["training"], **overrides}
    names = {f.name for f in fields(TrainSettings)} - {"epochs", "seed"}
    return TrainSettings(epochs=epochs, seed=seed, **{k: t[k] for k in names if k in t})


def _refuse_overwrite(path: str) -> None:
    if Path(path).exists():
        raise FileExistsError(f"{path} exists; remove it (or let Snakemake rerun the rule) rather than overwrite it")


def cmd_make_embedded(args) -> None:
    from .data.embedded import make_embedded_data

    s = _settings(args)["train_data"]
    make_embedded_data(args.out_root, n_train=s["n_train"], n_test=s["n_test"], n_pretrain=s["n_pretrain"],
                       seed=s["seed"])


def cmd_prepare_train(args) -> None:
    from .data.am import filter_math_rows, load_am_rows
    from .data.chat import write_jsonl

    s = _settings(args)["train_data"]
    rows = load_am_rows(s["source"], s.get("hub_id"), s.get("revision"), s.get("path"))
    kept, counts = filter_math_rows(rows)
    log.info("AM math filter: %s", dict(counts))
    if s.get("expected_rows") and s["max_rows"] is None and len(kept) != s["expected_rows"]:
        raise ValueError(f"filtering kept {len(kept)} rows, config key 'train_data.expected_rows' says "
                         f"{s['expected_rows']}")
    write_jsonl(args.out, kept[: s["max_rows"]] if s["max_rows"] else kept)


def cmd_prepare_benchmark(args) -> None:
    from .benchmarks import load_benchmark
    from .data.chat import write_jsonl

    write_jsonl(args.out, load_benchmark(args.benchmark, args.benchmark_dir))


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
        shutil.copytree(snapshot, out)
    elif b["source"] == "local":
        if not (Path(b["path"]) / "config.json").is_file():
            raise FileNotFoundError(f"config key 'backbones[{b['name']}].path': {b['path']} has no config.json")
        shutil.copytree(b["path"], out)
    else:
        from .data.embedded import build_tiny_model, build_tokenizer
        from .training import encode_corpus, train_causal_lm

        tokenizer = build_tokenizer([args.corpus, args.train])
        model = build_tiny_model(tokenizer, b["architecture"], seed=b["pretrain"]["seed"])
        lines = Path(args.corpus).read_text().splitlines()
        p = b["pretrain"]
        settings = _train_settings(s, p["epochs"], p["seed"], learning_rate=p["learning_rate"],
                                   per_device_batch_size=p["batch_size"], global_batch_size=p["batch_size"])
        train_causal_lm(model, tokenizer, encode_corpus(tokenizer, lines, settings.max_length), settings, out)


def cmd_train_sft(args) -> None:
    from .data.chat import load_examples
    from .methods.sft import run_sft

    s = _settings(args)
    run_sft(args.base, load_examples(args.data), s["system_prompt"], _train_settings(s, args.epochs, args.seed),
            args.out, m1_out=args.m1_out)


def cmd_entropy(args) -> None:
    from .data.chat import load_examples, write_jsonl
    from .methods.wmss import shard_bounds
    from .training import completion_entropies, load_causal_lm

    s = _settings(args)
    w = s["wmss"]
    examples = load_examples(args.data)
    start, end = shard_bounds(len(examples), args.shard, args.shards)
    model, tokenizer = load_causal_lm(args.model, bf16=s["training"]["bf16"])
    rows = completion_entropies(model, tokenizer, examples[start:end],
                                s["system_prompt"] if w["entropy_system_prompt"] else None, w["entropy_max_length"])
    write_jsonl(args.out, rows)


def cmd_merge_entropy(args) -> None:
    from .data.chat import load_examples, read_jsonl, write_jsonl
    from .methods.wmss import merge_entropy_shards

    shards = {path: list(read_jsonl(path, ("id",))) for path in args.shards}
    write_jsonl(args.out, merge_entropy_shards(shards, [ex.id for ex in load_examples(args.data)]))


def cmd_wdds_select(args) -> None:
    from .data.chat import read_jsonl
    from .methods.wmss import select_active

    w = _settings(args)["wmss"]
    weak = {r["id"]: r["entropy"] for r in read_jsonl(args.weak, ("id",))}
    strong = {r["id"]: r["entropy"] for r in read_jsonl(args.strong, ("id",))}
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


def cmd_train_continue(args) -> None:
    """wmss / wdds_only / wdjt_only: one further stage from M1 (App. E.5)."""
    from .data.chat import load_examples
    from .methods import parse_run
    from .methods.wmss import resolve_active, run_continue

    s = _settings(args)
    method, lam = parse_run(args.run)
    w = s["wmss"]
    examples = load_examples(args.data)
    if method.data == "wdds":
        if not args.active:
            raise ValueError(f"run {args.run} trains on the WD-DS active set: pass --active")
        examples = resolve_active(examples, json.loads(Path(args.active).read_text())["ids"], args.active)
    run_continue(method, lam, args.weak, args.strong, examples, s["system_prompt"],
                 _train_settings(s, s["training"]["joint_epochs"], args.seed), args.out,
                 freeze_weak=w["freeze_weak"], joint_loss_mask=w["joint_loss_mask"],
                 joint_system_prompt=w["joint_system_prompt"])


def cmd_generate(args) -> None:
    from transformers import AutoTokenizer

    from .data.chat import prompt_text, read_jsonl, write_jsonl
    from .eval.generation import PROTOCOLS, generate_transformers, generate_vllm
    from .training import checkpoint_sha256

    s = _settings(args)
    ev = s["evaluation"]
    rows = list(read_jsonl(args.benchmark_file, ("id", "question", "gold")))
    if not rows:
        raise ValueError(f"{args.benchmark_file}: no rows")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompts = [prompt_text(tokenizer, r["question"], s["system_prompt"]) for r in rows]
    too_long = [r["id"] for r, p in zip(rows, prompts, strict=True)
                if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > ev["max_prompt_tokens"]]
    if too_long:
        raise ValueError(f"{args.benchmark_file}: prompts longer than max_prompt_tokens: {too_long[:5]}")
    protocol = PROTOCOLS[ev["protocol"]]
    max_new = ev["long_max_new_tokens"] if args.benchmark in ev["long_benchmarks"] else ev["max_new_tokens"]
    checkpoint = checkpoint_sha256(args.model)
    ids = [r["id"] for r in rows]
    if ev["backend"] == "vllm":
        records = generate_vllm(args.model, prompts, ids, protocol, max_new, args.seed, checkpoint)
    else:
        records = generate_transformers(args.model, prompts, ids, protocol, max_new, ev["batch_size"], args.seed,
                                        checkpoint)
    write_jsonl(args.out, records)


def cmd_score(args) -> None:
    from .benchmarks import BENCHMARKS
    from .data.chat import read_jsonl
    from .eval.grading import grade_many
    from .methods import parse_run

    ev = _settings(args)["evaluation"]
    method, lam = parse_run(args.run)
    gold = {r["id"]: r["gold"] for r in read_jsonl(args.benchmark_file, ("id", "question", "gold"))}
    gens = list(read_jsonl(args.generations, ("prompt_id", "text")))
    unknown = [g["prompt_id"] for g in gens if g["prompt_id"] not in gold]
    if unknown or len({g["prompt_id"] for g in gens}) != len(gold):
        raise ValueError(f"{args.generations} does not cover {args.benchmark_file} one-to-one (e.g. {unknown[:3]})")
    verdicts = grade_many(BENCHMARKS[args.benchmark].kind, [g["text"] for g in gens],
                          [gold[g["prompt_id"]] for g in gens], ev["grader_workers"], ev["grader_timeout_s"])
    correct = sum(ok for ok, _ in verdicts)
    result = {
        "benchmark": args.benchmark, "backbone": args.backbone, "seed": args.seed, "run": args.run,
        "method": method.name, "lam": lam, "protocol": gens[0].get("protocol"), "n": len(gens),
        "correct": correct, "accuracy": correct / len(gens),
        "truncated": sum(g.get("finish_reason") == "length" for g in gens) / len(gens),
        "grader_errors": sum(err is not None for _, err in verdicts),
        "checkpoint_sha256": gens[0].get("checkpoint_sha256"),
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    log.info("%s %s: %d/%d correct", args.run, args.benchmark, correct, len(gens))


def cmd_logit_stats(args) -> None:
    from .data.chat import load_examples
    from .diagnostics import crossover_from_stats, model_logit_statistics, sample_examples, table6, table7
    from .training import load_causal_lm

    s = _settings(args)
    d = s["diagnostics"]
    examples = sample_examples(load_examples(args.data), d["n_examples"], d["seed"])
    stats = {}
    for name, path in (("weak_init", args.weak), ("strong_pre", args.strong_pre), ("strong_post", args.strong_post),
                       ("sft", args.sft)):
        model, tokenizer = load_causal_lm(path)
        stats[name] = model_logit_statistics(model, tokenizer, examples, s["system_prompt"], s["max_length"])
        log.info("logit statistics of %s (%s): %s", name, path, stats[name])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table6(stats["sft"], stats["strong_post"]).to_csv(out / "table6.csv", index=False)
    table7(stats["weak_init"], stats["strong_pre"], stats["strong_post"]).to_csv(out / "table7.csv", index=False)
    stats["lambda_crossover"] = crossover_from_stats(stats["strong_pre"], stats["weak_init"])
    stats["n_examples"] = d["n_examples"]
    (out / "logit_stats.json").write_text(json.dumps(stats, indent=1))


def cmd_tables(args) -> None:
    import pandas as pd

    from .tables import average_consistency, build_table1, build_table2, diff_against_paper, load_scores

    s = _settings(args)
    scores = load_scores(args.scores)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    builders = {"table1": build_table1, "table2": build_table2}
    diffs = []
    for name, spec in s["tables"].items():
        lambdas = spec.get("lambdas", [s["lam"]])
        sub = scores[scores.backbone.isin(spec["backbones"]) & scores.method.isin(spec["methods"])
                     & scores.benchmark.isin(spec["benchmarks"]) & (scores.lam.isna() | scores.lam.isin(lambdas))]
        wide = builders[name](sub, spec["benchmarks"], label_lambda=len(lambdas) > 1)
        wide.to_csv(out / f"{name}.csv", index=False)
        diffs.append(diff_against_paper(name, wide, s["comparable_with_paper"]))
    for path in args.diagnostics or []:
        name = Path(path).stem
        diffs.append(diff_against_paper(name, pd.read_csv(path, keep_default_na=False), s["comparable_with_paper"]))
    diff = pd.concat(diffs, ignore_index=True)
    diff.to_csv(out / "diff.csv", index=False)
    consistency = average_consistency()
    consistency.to_csv(out / "paper_consistency.csv", index=False)
    lines = [f"# Measured vs reported ({s['name']})", ""]
    if not s["comparable_with_paper"]:
        lines += ["This experiment is not the paper's configuration: every cell is marked *not comparable*.", ""]
    for name in s["tables"]:
        lines += [f"## {name}", "", pd.read_csv(out / f"{name}.csv").to_markdown(index=False), ""]
    counts = diff.groupby(["table", "status"]).size().rename("cells").reset_index()
    lines += ["## Diff status", "", counts.to_markdown(index=False), ""]
    bad = consistency[consistency.delta.abs() > 0.05]
    lines += ["## The paper's own averages", "",
              f"{len(consistency)} printed averages and gains re-computed from their cells; "
              f"{len(bad)} differ by more than 0.05 (rounding of 1-decimal cells allows up to 0.1):", ""]
    if len(bad):
        lines += [bad.to_markdown(index=False), ""]
    (out / "diff.md").write_text("\n".join(lines))


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

    p = stage("make-embedded", cmd_make_embedded, "write the embedded preset's synthetic data")
    p.add_argument("--out-root", required=True)
    p = stage("prepare-train", cmd_prepare_train, "load + filter the AM-1.4M math subset into train.jsonl")
    p.add_argument("--out", required=True)
    p = stage("prepare-benchmark", cmd_prepare_benchmark, "normalise one benchmark test set")
    p.add_argument("--benchmark", required=True)
    p.add_argument("--benchmark-dir", required=True)
    p.add_argument("--out", required=True)
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
    p = stage("train-continue", cmd_train_continue, "wmss / wdds_only / wdjt_only from M1")
    for opt in ("--run", "--weak", "--strong", "--data", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--active", help="WD-DS active set (methods that use it)")
    p.add_argument("--seed", type=int, required=True)
    p = stage("generate", cmd_generate, "generations of one model on one benchmark")
    for opt in ("--model", "--benchmark", "--benchmark-file", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("score", cmd_score, "grade generations; pass@1 with truncation and grader-error rates")
    for opt in ("--generations", "--benchmark", "--benchmark-file", "--backbone", "--run", "--out"):
        p.add_argument(opt, required=True)
    p.add_argument("--seed", type=int, required=True)
    p = stage("logit-stats", cmd_logit_stats, "Table 6/7 logit statistics of M0, M1, WMSS and SFT")
    for opt in ("--weak", "--strong-pre", "--strong-post", "--sft", "--data", "--out-dir"):
        p.add_argument(opt, required=True)
    p = stage("tables", cmd_tables, "build the configured tables and the diff against the paper")
    p.add_argument("--scores", nargs="+", required=True)
    p.add_argument("--diagnostics", nargs="*", help="table6.csv / table7.csv files to diff as well")
    p.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
