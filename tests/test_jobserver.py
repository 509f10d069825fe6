"""The job server of a local run (weakdriven.jobserver): a command run through it is the command run in its own
interpreter (outputs byte for byte, streams, exit status, working directory), a stopped client stops its command,
and without a server the script runs the command itself."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_launcher import train_command

from weakdriven import jobserver

BIN = Path(sys.executable).parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("jobs") / "socket"
    process = subprocess.Popen([sys.executable, "-m", "weakdriven.jobserver", str(path)])
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the job server did not start"
        time.sleep(0.1)
    yield str(path)
    process.terminate()
    process.wait(timeout=30)
    assert not path.exists()  # removed on the way out


def weakdriven(args, cwd, server=None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop(jobserver.ENV, None)
    if server:
        env[jobserver.ENV] = server
    return subprocess.Popen([str(BIN / "weakdriven"), *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def test_training_through_the_server_writes_the_bytes_of_its_own_interpreter(server, tiny_training_inputs, tmp_path):
    """The same tiny SFT run twice: the weights, M1 and the snapshot are identical (threads from the job's
    OMP_NUM_THREADS, torch's default random state), the log lines reach the client's stderr, and the paths are the
    client's: relative to its working directory."""
    outputs = {}
    for name, via in (("own", None), ("served", server)):
        work = tmp_path / name
        work.mkdir()
        args = train_command(tiny_training_inputs, Path("out"), [])
        done = weakdriven(args, work, via)
        stdout, stderr = done.communicate(timeout=600)
        assert done.returncode == 0, stderr[-3000:]
        assert "Writing model shards: 100%" in stderr  # the command's progress, on the client's stream
        outputs[name] = {sub: digest(work / "out" / sub / "model.safetensors")
                         for sub in ("final", "epoch1", "snapshots/ck100")}
    assert outputs["served"] == outputs["own"]


@pytest.mark.parametrize("args, status, message", [
    (["train", "--settings", "{}"], 2, "the following arguments are required: --strong, --data, --out"),
    (["no-such-stage"], 2, "invalid choice: 'no-such-stage'"),
])
def test_a_failing_command_reports_its_status_and_message_through_the_server(server, tmp_path, args, status,
                                                                              message):
    for via in (None, server):
        done = weakdriven(args, tmp_path, via)
        _, stderr = done.communicate(timeout=60)
        assert done.returncode == status and message in stderr, (via, stderr)


def test_an_exception_in_the_command_is_printed_and_exits_1(server, tmp_path):
    """A stage that raises: the traceback names the error, the status is an interpreter's for an uncaught
    exception (1), with and without the server."""
    for via in (None, server):
        done = weakdriven(["merge-entropy", "--shards", str(tmp_path / "missing.jsonl"), "--data",
                           str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "out.jsonl")], tmp_path, via)
        _, stderr = done.communicate(timeout=60)
        assert done.returncode == 1, stderr
        assert "Traceback" in stderr and "missing.jsonl" in stderr
        assert not (tmp_path / "out.jsonl").exists()


def test_a_signalled_client_stops_its_command(server, tiny_training_inputs, tmp_path):
    """Snakemake stops a job by signalling its process, the client: the command is signalled too and the client's
    status says so (128 + SIGTERM); the training leaves no final model."""
    done = weakdriven(train_command(tiny_training_inputs, Path("out"), []), tmp_path, server)
    time.sleep(1.0)
    done.send_signal(signal.SIGTERM)
    done.communicate(timeout=60)
    assert done.returncode == 128 + signal.SIGTERM
    assert not (tmp_path / "out" / "final" / "model.safetensors").exists()


def test_without_a_server_the_script_runs_the_command_itself(tmp_path):
    done = weakdriven(["--help"], tmp_path, str(tmp_path / "no-server"))
    stdout, _ = done.communicate(timeout=60)
    assert done.returncode == 0 and "train-sft" in stdout


def test_start_and_stop_from_a_workflow_process(monkeypatch):
    """What the Snakefile's onstart/onsuccess do: a server whose socket the jobs inherit, gone after stop(); a
    process that already has a server (or says off) starts none."""
    monkeypatch.delenv(jobserver.ENV, raising=False)
    path = jobserver.start()
    try:
        assert os.environ[jobserver.ENV] == path
        assert jobserver.start() is None  # one per run
        deadline = time.monotonic() + 60
        while not Path(path).exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        done = subprocess.run([str(BIN / "weakdriven"), "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "train-sft" in done.stdout
    finally:
        jobserver.stop()
    assert jobserver.ENV not in os.environ and not Path(path).parent.exists()
    monkeypatch.setenv(jobserver.ENV, "off")
    assert jobserver.start() is None


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    parent = subprocess.Popen(["sleep", "60"])
    path = tmp_path / "socket"
    # the server, started by `sleep`'s parent (this test) but told that `sleep` is its parent, sees it is not
    process = subprocess.Popen([sys.executable, "-m", "weakdriven.jobserver", str(path), str(parent.pid)])
    try:
        process.wait(timeout=120)
    finally:
        parent.kill()
    assert process.returncode == 0 and not path.exists()
