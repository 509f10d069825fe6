"""Every output path of the harness, built in one place (used by the Snakemake rules and the Python code).

The training domain (``math``, ``code``, ``logic``, or ``mix`` for one model trained on the three sets together:
``train_domains``) is a level of every run, entropy, evaluation and diagnostics path: each domain has its own M1,
WD-DS entropies and runs; M0 is shared.

results/<experiment>/
  prefetch.json                          what `weakdriven prefetch` put into the HF cache / benchmark_dir (a local rule)
  data/<domain>/train.jsonl              a domain's training records (id, question, completion, answer[, tests])
  data/<domain>.summary.json             a training set's counts per reason and sources (math, code, logic: Table 12)
  data/code/candidates.jsonl, verified.shard<i>-of-<n>.jsonl   the code set's rows with tests, each shard's passing
                                         rows (App. E.2)
  data/logic/candidates.jsonl, teacher.shard<i>-of-<n>.jsonl   the logic set's items less the held-out ones, the
                                         teacher's answers (App. E.3)
  data/code/raw/, data/logic/raw/        embedded preset only: its tiny AM code rows and LogiQA 2.0 / ReClor splits
  data/subsample/<domain>/n<rows>_seed<s>.json   the ids a generation phase answers (SPIN, SSB: App. E.5's 20K)
  data/logic/teacher_train.jsonl         embedded preset only: the items its logic teacher is fine-tuned on
  data/pretrain.txt                      embedded preset only: plain-text corpus for M0 (a blank line between documents)
  benchmarks/<bench>.jsonl               normalised test records (id, question, gold)
  models/<backbone>/base/                M0: the hub snapshot, or the pre-trained tiny model
  models/<backbone>/logic_teacher/       embedded preset only: its logic teacher (logic_data.teacher: embedded:<b>)
  runs/<backbone>/<domain>/entropy/base.jsonl   WD-DS entropies of M0 on the domain's set (seed-independent); shards:
                                         .shard<i>-of-<n>.jsonl
  runs/<backbone>/<domain>/entropy/seed<s>/<model>.jsonl   entropies of a seed's model: m1, a run, or sft@ck50
  runs/<backbone>/<domain>/seed<s>/sft/epoch1/    M1 (reused by every method that starts from it, never retrained)
  runs/<backbone>/<domain>/seed<s>/sft/final/     the 2-epoch SFT baseline
  runs/<backbone>/<domain>/seed<s>/wdds/<selection>/<weak>--<strong>.json   the WD-DS active set of a weak/strong
      pair: selection "default", or a run's shares and replicate ("abg0.2-0.7-0.1", "r2"; Run.selection)
  runs/<backbone>/<domain>/seed<s>/<run>/final/   wmss_lam<λ>, wdds_only, ... (methods/__init__.py: Run)
  runs/<backbone>/<domain>/seed<s>/<run>/snapshots/ck<step>/ + manifest.json   relative checkpoints (Table 3, Figs.
                                         4-5)
  runs/<backbone>/<domain>/seed<s>/<run>/data/<part>.jsonl   a method's generated data (SPIN answers, SSB rollouts)
  eval/<backbone>/<domain>/seed<s>/<run>/<protocol>/generations/<bench>.jsonl   one job per model and protocol: every
                                         benchmark the tables read of it (run "m1": the shared initialization;
                                         protocol: a name of evaluation.protocols)
  eval/<backbone>/<domain>/seed<s>/<run>/<protocol>/<bench>.scores.json          one per benchmark
  eval/<backbone>/<domain>/seed<s>/<run>/snapshots/<bench>.csv                   scores of the run's snapshots
  diagnostics/<backbone>/<domain>/seed<s>/table6.csv, table7.csv, logit_stats.json   Tables 6/7 logit statistics;
                                         logit_examples.csv: each example's share of them (their intervals)
  tables/<table>.csv, tables/<table>.diff.csv   a table and its own diff against the paper (intervals, verdicts)
  tables/<table>.cells.csv               the records behind each of the table's cells (tables/verdicts.py)
  tables/diff.csv, gains.csv, models.csv, paper_consistency.csv, diff.md   every table's diff, the gains over SFT
                                         with their paired tests, the models several tables show, the paper's own
                                         averages re-computed, and all of it rendered
  report/<table>.html, <table>.svg, scatter.svg   the parts of Snakemake's report (workflow/rules/report.smk)
  logs/, timings/                        rule logs and Snakemake benchmark records (training time)
"""

from __future__ import annotations

RESULTS = "results"


def root(exp: str) -> str:
    return f"{RESULTS}/{exp}"


def prefetched(exp: str) -> str:
    return f"{root(exp)}/prefetch.json"


def train_data(exp: str, domain: str) -> str:
    """A domain's training set (math, code, logic, or mix: the three together)."""
    return domain_data(exp, domain, "train.jsonl")


def domain_data(exp: str, domain: str, name: str) -> str:
    """A file of the code or logic training set's preparation (``data/<domain>/<name>``)."""
    return f"{root(exp)}/data/{domain}/{name}"


def data_summary(exp: str, domain: str) -> str:
    """A training set's counts and sources (Table 12): ``data/<domain>.summary.json``."""
    return f"{root(exp)}/data/{domain}.summary.json"


def embedded_code_rows(exp: str) -> str:
    return domain_data(exp, "code", "raw/am_code.jsonl")


def embedded_logic_raw(exp: str) -> str:
    return domain_data(exp, "logic", "raw")


def embedded_teacher_data(exp: str) -> str:
    return domain_data(exp, "logic", "teacher_train.jsonl")


def logic_teacher(exp: str, backbone: str) -> str:
    """The embedded preset's logic teacher (``logic_data.teacher.model: embedded:<backbone>``)."""
    return f"{root(exp)}/models/{backbone}/logic_teacher"


def pretrain_corpus(exp: str) -> str:
    return f"{root(exp)}/data/pretrain.txt"


def benchmark(exp: str, bench: str) -> str:
    return f"{root(exp)}/benchmarks/{bench}.jsonl"


def base_model(exp: str, backbone: str) -> str:
    return f"{root(exp)}/models/{backbone}/base"


def run_dir(exp: str, backbone: str, domain: str, seed: int | str, run: str) -> str:
    return f"{root(exp)}/runs/{backbone}/{domain}/seed{seed}/{run}"


def m1(exp: str, backbone: str, domain: str, seed: int | str) -> str:
    return f"{run_dir(exp, backbone, domain, seed, 'sft')}/epoch1"


def final_model(exp: str, backbone: str, domain: str, seed: int | str, run: str) -> str:
    return f"{run_dir(exp, backbone, domain, seed, run)}/final"


def snapshots(exp: str, backbone: str, domain: str, seed: int | str, run: str) -> str:
    return f"{run_dir(exp, backbone, domain, seed, run)}/snapshots"


def entropy_which(seed: int | str, model: str) -> str:
    """The ``which`` of an entropy file: "base" for M0 (seed-independent), else "seed<s>/<model key>"."""
    return "base" if model == "base" else f"seed{seed}/{model}"


def entropy(exp: str, backbone: str, domain: str, which: str) -> str:
    """WD-DS entropies of ``which`` (see :func:`entropy_which`) on the domain's set, merged over shards."""
    return f"{root(exp)}/runs/{backbone}/{domain}/entropy/{which}.jsonl"


def entropy_shard(exp: str, backbone: str, domain: str, which: str, shard: int | str, shards: int | str) -> str:
    return f"{root(exp)}/runs/{backbone}/{domain}/entropy/{which}.shard{shard}-of-{shards}.jsonl"


def subsample(exp: str, domain: str, rows: int | str, seed: int | str) -> str:
    """The ids of ``rows`` rows of the domain's set drawn for ``seed``: the prompts of SPIN's and SSB's generation
    (App. E.5's 20K)."""
    return f"{root(exp)}/data/subsample/{domain}/n{rows}_seed{seed}.json"


def method_data(exp: str, backbone: str, domain: str, seed: int | str, run: str, part: str) -> str:
    """A file a method makes before it trains (SPIN's generated answers), by the generic ``method_data`` rule."""
    return f"{run_dir(exp, backbone, domain, seed, run)}/data/{part}.jsonl"


def wdds_active(exp: str, backbone: str, domain: str, seed: int | str, weak: str = "base", strong: str = "m1",
                selection: str = "default") -> str:
    """The WD-DS selection of a weak/strong pair: ``selection`` = ``default`` or a run's shares and replicate
    (``Run.selection``)."""
    return f"{root(exp)}/runs/{backbone}/{domain}/seed{seed}/wdds/{selection}/{weak}--{strong}.json"


def eval_dir(exp: str, backbone: str, domain: str, seed: int | str, run: str) -> str:
    return f"{root(exp)}/eval/{backbone}/{domain}/seed{seed}/{run}"


def generations_dir(exp: str, backbone: str, domain: str, seed: int | str, run: str, protocol: str) -> str:
    return f"{eval_dir(exp, backbone, domain, seed, run)}/{protocol}/generations"


def generations(exp: str, backbone: str, domain: str, seed: int | str, run: str, bench: str, protocol: str) -> str:
    return f"{generations_dir(exp, backbone, domain, seed, run, protocol)}/{generations_name(bench)}"


def generations_name(bench: str) -> str:
    return f"{bench}.jsonl"


def scores(exp: str, backbone: str, domain: str, seed: int | str, run: str, bench: str, protocol: str) -> str:
    return f"{eval_dir(exp, backbone, domain, seed, run)}/{protocol}/{bench}.scores.json"


def snapshot_scores(exp: str, backbone: str, domain: str, seed: int | str, run: str, bench: str) -> str:
    return f"{eval_dir(exp, backbone, domain, seed, run)}/snapshots/{bench}.csv"


def diagnostics(exp: str, backbone: str, domain: str, seed: int | str, name: str) -> str:
    return f"{root(exp)}/diagnostics/{backbone}/{domain}/seed{seed}/{name}"


def table(exp: str, name: str) -> str:
    return f"{root(exp)}/tables/{name}.csv"


def table_cells(exp: str, name: str) -> str:
    """The score records behind each cell of a table (its intervals and verdicts)."""
    return table_cells_of(table(exp, name))


def table_cells_of(table_csv: str) -> str:
    return str(table_csv).removesuffix(".csv") + ".cells.csv"


def report_part(exp: str, name: str) -> str:
    """A file Snakemake's report shows (report/<table>.html, report/<table>.svg, report/scatter.svg)."""
    return f"{root(exp)}/report/{name}"


def table_diff(exp: str, name: str) -> str:
    return f"{root(exp)}/tables/{name}.diff.csv"


def diff(exp: str, suffix: str = "csv") -> str:
    return f"{root(exp)}/tables/diff.{suffix}"


def log(exp: str, name: str) -> str:
    return f"{root(exp)}/logs/{name}.log"


def timing(exp: str, name: str) -> str:
    """A job's Snakemake ``benchmark:`` record (wall-clock seconds, memory; Table 11 reads the training jobs')."""
    return f"{root(exp)}/timings/{name}.tsv"


def sft_timing(exp: str, backbone: str, domain: str, seed: int | str) -> str:
    return timing(exp, f"{backbone}/{domain}/seed{seed}/sft")


def train_timing(exp: str, backbone: str, domain: str, seed: int | str, run: str) -> str:
    return timing(exp, f"{backbone}/{domain}/seed{seed}/train/{run}")


def method_data_timing(exp: str, backbone: str, domain: str, seed: int | str, run: str, part: str) -> str:
    return timing(exp, f"{backbone}/{domain}/seed{seed}/data/{run}/{part}")


def entropy_timing(exp: str, backbone: str, domain: str, which: str, shard: int | str, shards: int | str) -> str:
    return timing(exp, f"{backbone}/{domain}/entropy/{which}.shard{shard}-of-{shards}")
