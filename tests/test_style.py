"""House style is checked, not hoped for: ruff on the Python code, snakefmt on the workflow."""

import subprocess

from conftest import BIN, REPO


def test_ruff_is_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


def test_snakefmt_is_clean():
    result = subprocess.run([str(BIN / "snakefmt"), "--check", "--line-length", "120", "Snakefile", "workflow"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
