"""The software of each rule group, from one list of pins: the optional dependencies of pyproject.toml.

A rule group (train, eval, code, tables) runs in an Apptainer image built from ``containers/<group>.def``, which
installs this package with the group's extra (``pip install /opt/weakdriven[<group>]``), or in a conda environment
that Snakemake builds from the file :func:`write_conda_env` derives from the same extra. The local environment of
``make env`` installs the extras its jobs and tests need. Two extras are not installed through pip's resolver:

- ``judges`` (evalplus, bigcodebench) go in with ``--no-deps``: their own dependencies are model-API clients and vLLM,
  which judging does not need; what judging imports is in the ``code`` extra.
- ``flash`` (flash-attn) builds against the environment's torch, so it needs ``--no-build-isolation`` and a CUDA
  toolkit: the train container and the train conda environment only.

``python -m weakdriven.envs pins EXTRA`` prints an extra's pins, one per line, for those two pip commands.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

GROUPS = ("train", "eval", "code", "tables")
NO_DEPS = "judges"
NO_BUILD_ISOLATION = "flash"
PYTHON = "3.11"
CONDA_PACKAGES = {"code": ("bubblewrap",)}  # not on PyPI: the sandbox that judges model-written code
POST_DEPLOY = {"code": NO_DEPS, "train": NO_BUILD_ISOLATION}  # the extra a group's env installs after the env file
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # the checkout (or /opt/weakdriven in an image)


def pins(extra: str, pyproject: str | Path = PYPROJECT) -> list[str]:
    """The requirements of one optional-dependency group of pyproject.toml, in file order."""
    path = Path(pyproject)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pyproject.toml; the pins of the rule groups live there")
    extras = tomllib.loads(path.read_text())["project"].get("optional-dependencies", {})
    if extra not in extras:
        raise KeyError(f"{path}: [project.optional-dependencies] has no '{extra}' (it has: {', '.join(extras)})")
    return list(extras[extra])


def conda_env_text(group: str, checkout: str | Path, pyproject: str | Path | None = None) -> str:
    """A conda environment file for one rule group: Python, the group's pins and this checkout (editable, by absolute
    path: Snakemake copies the file before conda reads it, so a relative path would point elsewhere). The pins are
    spelled out, not left to the extra, so that Snakemake (which names an environment by its file's content) builds a
    new environment when a pin changes."""
    if group not in GROUPS:
        raise KeyError(f"unknown rule group '{group}' (one of: {', '.join(GROUPS)})")
    checkout = Path(checkout).resolve()
    lines = [
        f"# The '{group}' rule group: pyproject.toml's [{group}] extra, written by weakdriven.envs; do not edit.",
        f"name: weakdriven-{group}",
        "channels: [conda-forge]",
        "dependencies:",
        f"  - python={PYTHON}",
        *(f"  - {package}" for package in CONDA_PACKAGES.get(group, ())),
        "  - pip",
        "  - pip:",
        *(f"      - {pin}" for pin in pins(group, pyproject or checkout / "pyproject.toml")),
        f"      - -e {checkout}",
    ]
    return "\n".join(lines) + "\n"


def post_deploy_text(group: str, checkout: str | Path, pyproject: str | Path | None = None) -> str | None:
    """The script Snakemake runs in a group's new conda environment, or None: the judges without their dependencies
    (code), flash-attn against the environment's torch (train)."""
    extra = POST_DEPLOY.get(group)
    if extra is None:
        return None
    flag = "--no-deps" if extra == NO_DEPS else "--no-build-isolation"
    packages = " \\\n    ".join(pins(extra, pyproject or Path(checkout) / "pyproject.toml"))
    prefix = "MAX_JOBS=8 " if extra == NO_BUILD_ISOLATION else ""
    return (
        "#!/usr/bin/env bash\n"
        f"# pyproject.toml's [{extra}] extra, written by weakdriven.envs; do not edit.\n"
        "set -euo pipefail\n"
        f"{prefix}python -m pip install {flag} \\\n    {packages}\n"
    )


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:  # an unchanged file keeps its mtime
        path.write_text(text)


def write_conda_env(group: str, checkout: str | Path, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<group>.yaml`` (and its ``.post-deploy.sh``, where the group has one) and return the yaml's
    path, for a rule's ``conda:`` directive. Files are rewritten only when their content changes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = out_dir / f"{group}.yaml"
    _write_if_changed(env, conda_env_text(group, checkout))
    script = post_deploy_text(group, checkout)
    deploy = out_dir / f"{group}.post-deploy.sh"
    if script is not None:
        _write_if_changed(deploy, script)
        deploy.chmod(0o755)
    elif deploy.exists():
        deploy.unlink()
    return env.resolve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m weakdriven.envs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("pins", help="print the pins of one extra of pyproject.toml, one per line")
    show.add_argument("extra")
    show.add_argument("--pyproject", default=str(PYPROJECT))
    args = parser.parse_args(argv)
    print("\n".join(pins(args.extra, args.pyproject)))


if __name__ == "__main__":
    main()
