"""Math grading throughput on the real GSM8K and MATH500 answers: completions in the model's answer format
(<think> ... </think> <answer> ... \\boxed{gold} </answer>), graded by the harness's math-verify workers.

    python benchmarks/grading_throughput.py [--benchmark-dir ../shared/data/benchmarks] [--workers 2] [--repeat 2]

Prints answers per second per benchmark and overall (the goal: >= 500 answers/s on 2 cores), and the share of the
completions graded correct (every completion restates its gold answer, so anything below 100 % is a grader miss).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from weakdriven.benchmarks import load_benchmark
from weakdriven.eval.grading import grade_many

REPO = Path(__file__).resolve().parents[1]


def completion(gold: str, i: int) -> str:
    # alternate the two forms models write: a bare boxed answer and a sentence around it
    if i % 2:
        return f"<think>Work through it step by step.</think> <answer>The answer is \\boxed{{{gold}}}.</answer>"
    return f"<think>Compute.</think>\n<answer>\\boxed{{{gold}}}</answer>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark-dir", default=str(REPO.parent / "shared" / "data" / "benchmarks"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="grade every answer this many times")
    parser.add_argument("--timeout-s", type=int, default=5)
    args = parser.parse_args()
    total_n, total_s = 0, 0.0
    for name in ("GSM8K", "MATH500"):
        rows = load_benchmark(name, args.benchmark_dir) * args.repeat
        texts = [completion(r["gold"], i) for i, r in enumerate(rows)]
        started = time.perf_counter()
        verdicts = grade_many("math", texts, [r["gold"] for r in rows], args.workers, args.timeout_s)
        seconds = time.perf_counter() - started
        correct = sum(ok for ok, _ in verdicts)
        errors = sum(err is not None for _, err in verdicts)
        total_n, total_s = total_n + len(rows), total_s + seconds
        print(f"{name:8s} {len(rows):5d} answers  {seconds:6.2f} s  {len(rows) / seconds:7.1f} answers/s  "
              f"graded correct {100 * correct / len(rows):5.1f} %  grader errors {errors}")
    print(f"overall  {total_n:5d} answers  {total_s:6.2f} s  {total_n / total_s:7.1f} answers/s "
          f"({args.workers} workers); goal >= 500/s: {'met' if total_n / total_s >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
