"""Pinned environments: each container pins exactly its envs/ file; the CPU requirements agree with both."""

import re

import pytest
import yaml
from conftest import REPO

GROUPS = ("train", "eval", "tables")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)")


def env_pins(group):
    env = yaml.safe_load((REPO / "envs" / f"{group}.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(PIN.match(p).groups() for p in pip if PIN.match(p))


def def_pins(group):
    lines = (REPO / "containers" / f"{group}.def").read_text().splitlines()
    return dict(PIN.match(line.strip()).groups() for line in lines if PIN.match(line.strip()))


@pytest.mark.parametrize("group", GROUPS)
def test_container_pins_equal_env_pins(group):
    assert env_pins(group) and def_pins(group) == env_pins(group)


def test_cpu_requirements_agree_with_every_env():
    lines = (REPO / "envs" / "requirements-cpu.txt").read_text().splitlines()
    cpu = dict(PIN.match(line).groups() for line in lines if PIN.match(line))
    for group in GROUPS:
        for name, version in env_pins(group).items():
            if name in cpu:
                assert cpu[name] == version, (group, name)
    assert cpu["torch"] == "2.13.0"  # the CPU wheel on disk; an unpinned torch pulls a CUDA build
