"""``weakdriven`` console script: one subcommand per workflow stage (the Snakemake rules call these).

A stage's settings arrive as one JSON object (``--settings``): a typed stage object of ``weakdriven.stages`` that the
rule built from the config, read back into the same type here. Each command only parses its arguments and calls the
library function that does the work; the modules that need torch are imported when their command runs, so the
tables and code containers (no torch) run their commands too. ``weakdriven <stage> --help`` lists a stage's options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from importlib import import_module

from . import stages


def _call(target: str, build: Callable[[argparse.Namespace], tuple[tuple, dict]]):
    """A command that imports ``module:function`` when it runs and calls it with ``build(args)``."""

    def command(args: argparse.Namespace) -> None:
        module, name = target.split(":")
        positional, keywords = build(args)
        getattr(import_module(module, __package__), name)(*positional, **keywords)

    return command


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="weakdriven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True)

    def stage(name: str, help_: str, target: str, build, *, settings: type | None = None, required=(), optional=()):
        """Register ``name``: ``required``/``optional`` options (``--x`` or (flag, kwargs)); ``settings``: its type."""
        p = sub.add_parser(name, help=help_)
        if settings is not None:
            p.add_argument("--settings", required=True, help=f"{settings.__name__} JSON, built by the workflow")
        for opt in required:
            p.add_argument(*([opt] if isinstance(opt, str) else [opt[0]]), required=True,
                           **({} if isinstance(opt, str) else opt[1]))
        for opt in optional:
            p.add_argument(*([opt] if isinstance(opt, str) else [opt[0]]), **({} if isinstance(opt, str) else opt[1]))

        def with_settings(args):
            args.stage_settings = settings.from_json(args.settings) if settings is not None else None
            return build(args)

        p.set_defaults(func=_call(target, with_settings))
        return p

    seed = ("--seed", {"type": int})
    many = {"nargs": "*", "default": []}
    # ---- data ----
    stage("make-embedded", "write the embedded preset's synthetic data", ".data.embedded:make_embedded_data",
          lambda a: ((a.out_root,), {k: a.stage_settings.train_data[k] for k in ("n_train", "n_test", "n_pretrain",
                                                                                  "seed")}),
          settings=stages.DataStage, required=["--out-root"])
    stage("prepare-train", "load + filter the AM-1.4M math subset into train.jsonl", ".data.am:prepare_train_data",
          lambda a: ((a.stage_settings.train_data, a.out, a.summary), {}), settings=stages.DataStage,
          required=["--out", ("--summary", {"help": "Table 12's counts of the set (JSON)"})])
    shard = [("--shard", {"type": int, "required": True, "help": "which part (0-based)"}),
             ("--shards", {"type": int, "required": True, "help": "parts the work is split into"})]
    stage("code-candidates", "the AM code rows with a program and readable tests (App. E.2)",
          ".data.am_code:candidates_stage", lambda a: ((a.stage_settings, a.out), {}),
          settings=stages.CodeDataStage, required=["--out"])
    stage("code-verify", "run one shard of the code candidates against their tests in the sandbox",
          ".data.am_code:verify_stage",
          lambda a: ((a.stage_settings, a.candidates, a.shard, a.shards, a.out), {}),
          settings=stages.CodeDataStage, required=["--candidates", "--out"], optional=shard)
    stage("code-merge", "the verified shards as the code training set and its summary", ".data.am_code:merge_stage",
          lambda a: ((a.stage_settings, a.candidates, a.shard_files, a.out, a.summary), {}),
          settings=stages.CodeDataStage, required=["--candidates", ("--shard-files", {"nargs": "+"}), "--out",
                                                   "--summary"])
    stage("mix-data", "the math, code and logic sets as one (train_domains: mixture)", ".data.mixture:mix_stage",
          lambda a: ((a.sets, a.out, a.summary), {}),
          required=[("--sets", {"nargs": 3, "help": "math=<file> code=<file> logic=<file>"}), "--out", "--summary"])
    stage("logic-candidates", "LogiQA 2.0 + ReClor less the held-out items, by content (App. E.3)",
          ".data.logic:candidates_stage", lambda a: ((a.stage_settings, a.evaluation_files, a.out), {}),
          settings=stages.LogicDataStage, required=["--out"],
          optional=[("--evaluation-files", {**many, "help": "prepared LogiQA2/ReClor test records to check against"})])
    stage("logic-distill", "the teacher's answers to one shard of the logic candidates", ".data.logic:distill_stage",
          lambda a: ((a.stage_settings, a.teacher, a.candidates, a.shard, a.shards, a.out), {}),
          settings=stages.LogicDataStage, required=["--teacher", "--candidates", "--out"], optional=shard)
    stage("logic-merge", "the kept teacher answers as the logic training set and its summary",
          ".data.logic:merge_stage", lambda a: ((a.stage_settings, a.candidates, a.shard_files, a.out, a.summary), {}),
          settings=stages.LogicDataStage, required=["--candidates", ("--shard-files", {"nargs": "+"}), "--out",
                                                    "--summary"])
    stage("prepare-benchmark", "normalise one benchmark test set", ".benchmarks:prepare_benchmark",
          lambda a: ((a.benchmark, a.benchmark_dir, a.out), {"verify_sha256": not a.no_verify}),
          required=["--benchmark", "--benchmark-dir", "--out"],
          optional=[("--no-verify", {"action": "store_true",
                                     "help": "accept a test set whose sha256 differs from the paper's"})])
    stage("prefetch", "download the pinned backbones, training data and test sets (login node)",
          ".prefetch:prefetch_config", lambda a: ((a.configfile, a.out), {}),
          optional=[("--configfile", {"default": "config/config.yaml", "help": "the experiment (the paper's)"}),
                    ("--out", {"default": "resources/prefetch.json", "help": "the record of what is cached (JSON)"})])
    stage("fetch-benchmarks", "download the test sets from their pinned sources", ".benchmarks:fetch_benchmarks",
          lambda a: ((a.benchmarks, a.benchmark_dir), {}), required=["--benchmark-dir"],
          optional=[("--benchmarks", {"nargs": "*", "help": "names as in the paper's tables (default: all)"})])
    # ---- training ----
    stage("init-backbone", "M0: hub snapshot, local copy, or pre-trained embedded model", ".backbones:init_backbone",
          lambda a: ((a.stage_settings, a.out), {"corpus": a.corpus, "train": a.train}),
          settings=stages.BackboneStage, required=["--out"],
          optional=[("--corpus", {"help": "embedded only: pre-training corpus"}),
                    ("--train", {"help": "embedded only: training set (tokenizer vocabulary)"})])
    stage("train-sft", "completion-only SFT of M0; optionally keep its epoch-1 checkpoint as M1",
          ".methods.run:train_sft",
          lambda a: ((a.stage_settings, a.base, a.data, a.out), {"m1_out": a.m1_out, "snapshots_out": a.snapshots_out}),
          settings=stages.SftStage, required=["--base", "--data", "--out"],
          optional=[("--m1-out", {"help": "save the epoch-1 checkpoint here (training.m1_from: sft_epoch1)"}),
                    ("--snapshots-out", {"help": "keep the relative checkpoints here (with a manifest.json)"})])
    stage("subsample", "the per-seed training-row subsample of the generation phases (App. E.5)",
          ".data.subsample:subsample_stage", lambda a: ((a.data, a.rows, a.seed, a.out), {}),
          required=["--data", ("--rows", {"type": int}), seed, "--out"])
    stage("method-data", "a file a method makes before training (SPIN: M1's answers)", ".methods.run:method_data",
          lambda a: ((a.stage_settings, a.model, a.data, a.out), {"subsample": a.subsample, "parts": a.parts}),
          settings=stages.MethodDataStage, required=["--model", "--data", "--out"],
          optional=[("--subsample", {"help": "the subsample whose prompts it answers (default: every row)"}),
                    ("--parts", {**many, "help": "the run's earlier data parts it reads, name=path (SSB's teacher: "
                                                 "its rollouts)"})])
    stage("train", "every method but sft: one run from its start model(s)", ".methods.run:train_run",
          lambda a: ((a.stage_settings, a.strong, a.data, a.out),
                     {"weak": a.weak, "active": a.active, "snapshots_out": a.snapshots_out, "parts": a.parts}),
          settings=stages.TrainStage, required=["--strong", "--data", "--out"],
          optional=[("--weak", {"help": "the weak start (mixed-logit methods), UNDIAL's teacher M0"}),
                    ("--active", {"help": "WD-DS active set (methods that use it)"}),
                    ("--parts", {**many, "help": "the method's data parts, name=path (SPIN: generated, subsample)"}),
                    ("--snapshots-out", {"help": "keep the relative checkpoints here (with a manifest.json)"})])
    stage("entropy", "WD-DS token-averaged completion entropies (Eq. 7) of one shard", ".methods.wdds:entropy_stage",
          lambda a: ((a.stage_settings, a.model, a.data, a.shard, a.shards, a.out), {}),
          settings=stages.EntropyStage, required=["--model", "--data", "--out"],
          optional=[("--shard", {"type": int, "default": 0, "help": "which block of the training set (0-based)"}),
                    ("--shards", {"type": int, "default": 1, "help": "blocks the training set is split into"})])
    stage("merge-entropy", "merge entropy shards by sample id (complete, no duplicates)", ".methods.wdds:merge_stage",
          lambda a: ((a.shards, a.data, a.out), {}), required=[("--shards", {"nargs": "+"}), "--data", "--out"])
    stage("wdds-select", "WD-DS sampling weights (Eq. 9) and the active set", ".methods.wdds:select_stage",
          lambda a: ((a.stage_settings, a.weak, a.strong, a.out), {}), settings=stages.WddsStage,
          required=["--weak", "--strong", "--out"])
    # ---- evaluation ----
    stage("generate", "generations of one model on each of its benchmarks, one file each",
          ".eval.pipeline:generate_stage",
          lambda a: ((a.stage_settings, a.model, a.benchmark_files, a.seed, a.out_dir), {}),
          settings=stages.GenerateStage,
          required=["--model", ("--benchmark-files", {"nargs": "+", "help": "in the settings' benchmark order"}),
                    "--out-dir", seed])
    stage("score", "grade generations; pass@1 with truncation and grader-error rates", ".eval.pipeline:score_stage",
          lambda a: ((a.stage_settings, a.generations, a.benchmark, a.benchmark_file, a.backbone, a.seed, a.run,
                      a.out), {}),
          settings=stages.EvalStage,
          required=["--generations", "--benchmark", "--benchmark-file", "--backbone", "--run", "--out", seed])
    stage("eval-snapshots", "scores of a run's relative checkpoints on one benchmark",
          ".eval.pipeline:eval_snapshots_stage",
          lambda a: ((a.stage_settings, a.snapshots, a.final_scores, a.benchmark, a.benchmark_file, a.backbone,
                      a.seed, a.run, a.out), {}),
          settings=stages.EvalStage, required=["--snapshots", "--final-scores", "--benchmark", "--benchmark-file",
                                               "--backbone", "--run", "--out", seed])
    # ---- diagnostics and tables ----
    stage("logit-stats", "Table 6/7 logit statistics of M0, M1, WMSS and SFT", ".diagnostics:logit_stats_stage",
          lambda a: ((a.stage_settings, a.weak, a.strong_pre, a.strong_post, a.sft, a.data, a.out_dir),
                     {"wmss": a.wmss}),
          settings=stages.DiagnosticsStage,
          required=["--weak", "--strong-pre", "--strong-post", "--sft", "--data", "--out-dir"],
          optional=[("--wmss", {"help": "Table 6's WMSS model (default: --strong-post)"})])
    stage("entropy-gap", "Figure 5: entropy separation of a weak/strong pair", ".methods.wdds:entropy_gap",
          lambda a: ((a.weak, a.strong, a.backbone, a.seed, a.weak_label, a.out), {}),
          required=["--weak", "--strong", "--backbone", "--weak-label", "--out", seed])
    stage("table", "one paper table or figure from the inputs it declares", ".tables:table_stage",
          lambda a: ((a.stage_settings, {"scores": a.scores, "snapshots": a.snapshots, "gaps": a.gaps,
                                         "files": a.files}, a.out), {}),
          settings=stages.TableStage, required=["--out"],
          optional=[("--scores", {**many, "help": "score records"}),
                    ("--snapshots", {**many, "help": "snapshot score CSVs (eval-snapshots)"}),
                    ("--gaps", {**many, "help": "entropy-gap records (Figure 5)"}),
                    ("--files", {**many, "help": "other inputs (the diagnostics' Tables 6 and 7)"})])
    stage("table-diff", "one built table against the paper, cell by cell", ".tables.diff:table_diff_stage",
          lambda a: ((a.table, a.stage_settings.comparable_with_paper, a.out, a.stage_settings.interval), {}),
          settings=stages.DiffStage,
          required=[("--table", {"help": "the table CSV, named <table>.csv"}), "--out"])
    stage("diff", "every built table against the paper; diff.csv, gains.csv, diff.md, paper_consistency.csv",
          ".tables.diff:write_diff",
          lambda a: ((a.tables, a.out_dir, a.stage_settings.name, a.stage_settings.comparable_with_paper,
                      a.stage_settings.interval), {}),
          settings=stages.DiffStage,
          required=[("--tables", {"nargs": "+", "help": "table CSVs named <table>.csv"}), "--out-dir"])
    stage("report-table", "a built table as HTML, each cell coloured by its verdict (Snakemake's report)",
          ".report:table_html", lambda a: ((a.table, a.diff, a.out), {}),
          required=[("--table", {"help": "the table CSV, named <table>.csv"}), ("--diff", {"help": "its diff CSV"}),
                    "--out"])
    stage("report-plot", "a table's figure, the paper's printed points overlaid (Snakemake's report)",
          ".report:table_plot", lambda a: ((a.table, a.out), {}),
          required=[("--table", {"help": "the table CSV, named <table>.csv"}), "--out"])
    stage("report-scatter", "measured vs reported with the measured intervals, per table (Snakemake's report)",
          ".report:scatter", lambda a: ((a.diff, a.out), {}), required=[("--diff", {"help": "diff.csv"}), "--out"])
    stage("cost", "GPU-hours of the jobs a target still needs (run in the repository root)", ".cost:print_cost",
          lambda a: ((a.targets, a.configfile), {}),
          optional=[("targets", {"nargs": "*", "help": "Snakemake targets (tables, one cell's score file); none: all"}),
                    ("--configfile", {"help": "the experiment config (default: config/config.yaml)"})])
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
