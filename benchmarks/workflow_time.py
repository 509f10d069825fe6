"""Where a workflow run's time goes, per rule, from Snakemake's own log of that run.

    python benchmarks/workflow_time.py                      # the newest log under .snakemake/log/
    python benchmarks/workflow_time.py path/to/run.snakemake.log

Every job's wall time is the span between the log's "rule X:" block (its start stamp) and its "Finished jobid: N"
line. Per rule: the jobs, their summed and mean seconds, and the shortest job, which is mostly start-up (interpreter,
imports, reading a model) since the rule's smallest input costs little compute; for the rules with a ``benchmark:``
record, the CPU seconds it measured (the job's process tree: with the local job server, src/weakdriven/jobserver.py,
only the job's client, so run with WEAKDRIVEN_JOB_SERVER=off to split start-up from compute). The closing lines give
the run's elapsed time, the sum over jobs, and that sum over the cores: the time a perfectly packed run would take.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
BENCHMARK = re.compile(r"^\s+benchmark: (\S+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
ELAPSED = re.compile(r"^Elapsed time: (.*)$")


def job_spans(lines: list[str], records: dict[str, str] | None = None) -> dict[str, tuple[str, float, float]]:
    """jobid -> (rule, start, end) in seconds since the epoch, for every job that finished; ``records``, if given, is
    filled with jobid -> the job's benchmark record (the path the log names)."""
    now, rule, job, started, spans = None, None, None, {}, {}
    for line in lines:
        if m := STAMP.match(line):
            now = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := RULE.match(line):
            rule = m.group(1)
        elif (m := JOBID.match(line)) and rule is not None:
            started[m.group(1)] = (rule, now)
            rule, job = None, m.group(1)
        elif (m := BENCHMARK.match(line)) and job is not None and records is not None:
            records[job] = m.group(1)
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            name, start = started.pop(m.group(1))
            spans[m.group(1)] = (name, start, now)
    return spans


def cpu_seconds(path: Path) -> float | None:
    """The ``cpu_time`` column of a Snakemake benchmark record (None if it is missing or unreadable)."""
    try:
        header, values = path.read_text().splitlines()[:2]
        return float(dict(zip(header.split("\t"), values.split("\t"), strict=True))["cpu_time"])
    except (OSError, ValueError, KeyError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", help="a Snakemake log (default: the newest in .snakemake/log/)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    path = Path(args.log) if args.log else max(Path(".snakemake/log").glob("*.log"), key=lambda p: p.stat().st_mtime)
    lines = path.read_text().splitlines()
    records: dict[str, str] = {}
    spans = job_spans(lines, records)
    if not spans:
        sys.exit(f"{path}: no finished job")
    workdir = path.resolve().parents[2]  # <workdir>/.snakemake/log/<run>.snakemake.log
    per_rule: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for job, (name, start, end) in spans.items():
        per_rule[name].append(end - start)
        if job in records and (seconds := cpu_seconds(workdir / records[job])) is not None:
            cpu[name].append(seconds)
    total = sum(sum(v) for v in per_rule.values())
    print(f"{path}: {len(spans)} jobs")
    print(f"{'rule':<22}{'jobs':>6}{'sum s':>9}{'mean s':>9}{'min s':>8}{'share':>8}{'cpu s':>9}")
    for name, times in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        measured = f"{sum(cpu[name]):>9.0f}" if len(cpu[name]) == len(times) else f"{'':>9}"
        print(f"{name:<22}{len(times):>6}{sum(times):>9.0f}{sum(times) / len(times):>9.1f}{min(times):>8.0f}"
              f"{sum(times) / total:>8.1%}{measured}")
    elapsed = [m.group(1) for line in lines if (m := ELAPSED.match(line))]
    first = min(s for _, s, _ in spans.values())
    last = max(e for _, _, e in spans.values())
    print(f"elapsed {elapsed[-1] if elapsed else f'{last - first:.0f} s'} (first job start to last finish "
          f"{last - first:.0f} s); jobs' sum {total:.0f} s = {total / args.cores:.0f} s on {args.cores} cores packed")


if __name__ == "__main__":
    main()
