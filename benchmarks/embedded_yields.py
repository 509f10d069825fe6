"""The embedded preset's yields under numeric perturbation: the data-yield chain and the code and logic columns for
several data/model seeds and thread counts (a thread count changes a CPU's float reductions, as another CPU does).

    python benchmarks/embedded_yields.py                          # seeds 0 and 1, one and two threads per job
    python benchmarks/embedded_yields.py --seeds 0 --threads 2

Each (seed, threads) pair is its own experiment (config/embedded.yaml with ``name: yields-s<seed>-t<threads>``, the
data seed and M0's pre-training seed set to the seed) built by the local profile up to Tables 4, 5 and 12 and the
SPIN/SSB/DPO data of the math runs; results/yields-*/ hold them. Prints, per pair, what each filtering stage kept and
the floor it must keep (config/embedded.yaml's minimum), and the code and logic columns: a floor the preset is
designed to clear with margin, shown against what the perturbed runs keep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
MODEL_RULES = ("init_backbone", "logic_teacher", "sft", "train", "logic_distill", "generate", "method_data",
               "entropy_shard")


def experiment(seed: int, threads: int) -> tuple[str, Path]:
    raw = yaml.safe_load((REPO / "config" / "embedded.yaml").read_text())
    name = f"yields-s{seed}-t{threads}"
    raw["name"] = name
    raw["train_data"]["seed"] = seed
    for backbone in raw["backbones"]:
        backbone["pretrain"]["seed"] = seed
    path = Path(tempfile.mkdtemp()) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return name, path


def run(seed: int, threads: int) -> dict:
    name, config = experiment(seed, threads)
    root = REPO / "results" / name
    runs = root / "runs" / "tiny-qwen3" / "math" / "seed42"
    targets = [root / "tables" / f"{t}.csv" for t in ("table4", "table5", "table12")]
    targets += [runs / "dpo" / "data" / "rollouts.jsonl", runs / "ssb" / "data" / "teacher.jsonl"]
    # targets relative to the workflow's directory: Snakemake matches a rule's output as written, not its absolute path
    command = [sys.executable, "-m", "snakemake", *(str(t.relative_to(REPO)) for t in targets), "--profile",
               "profiles/local", "--cores",
               str(max(2, threads)), "--keep-going", "--set-threads", *(f"{r}={threads}" for r in MODEL_RULES),
               "--configfile", str(config)]
    # the jobs call the environment's `weakdriven` script: its bin/ first on PATH, as an activated environment has it
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PATH": path})
    row = {"seed": seed, "threads": threads, "workflow": "ok" if done.returncode == 0 else "FAILED"}
    data = root / "data"
    for domain in ("logic", "code"):
        summary = data / f"{domain}.summary.json"
        if summary.is_file():
            counts = json.loads(summary.read_text())["counts"]
            row[f"{domain} kept"] = f"{counts['kept']}/{counts['candidates']}"
    for part, keys in (("dpo/data/rollouts", ("pairs",)), ("ssb/data/rollouts", ("questions_with_both",)),
                       ("ssb/data/teacher", ("kept",))):
        path = runs / f"{part}.summary.json"
        if path.is_file():
            summary = json.loads(path.read_text())
            row.update({f"{part.split('/')[0]} {k}": summary.get(k) for k in keys})
    for table, column in (("table4", "synth-code"), ("table5", "synth-logic")):
        path = root / "tables" / f"{table}.csv"
        if path.is_file():
            values = pd.read_csv(path).set_index("row")[column]
            row[f"{column} min"] = values.min()
            row[f"{column} mean"] = round(values.mean(), 1)
    if done.returncode != 0:
        row["error"] = done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else ""
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    floors = yaml.safe_load((REPO / "config" / "embedded.yaml").read_text())
    print("floors: logic_data.min_kept", floors["logic_data"]["min_kept"], "| code_data.min_rows",
          floors["code_data"]["min_rows"], "| methods.dpo.min_pairs", floors["methods"]["dpo"]["min_pairs"],
          "| methods.ssb.min_questions", floors["methods"]["ssb"]["min_questions"], "| methods.ssb.min_replies",
          floors["methods"]["ssb"]["min_replies"])
    rows = [run(seed, threads) for seed in args.seeds for threads in args.threads]
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
