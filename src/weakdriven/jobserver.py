"""A local run's job server: the ``weakdriven`` commands of the workflow's jobs start from one warm interpreter.

Every job of the embedded preset is a short ``weakdriven <stage>`` process, and most of a short job is start-up:
importing torch and transformers and resolving a model class costs 5-9 s of CPU, against about a second of work
for a typical generation or scoring job (docs/measured.md). On a workstation or CI machine with two cores that
start-up is most of the preset's time. The job server imports those libraries once; each job's ``weakdriven``
process (the client, which imports none of them) hands its command line, working directory, environment and
standard streams to the server, which forks a copy of its warm interpreter to run the command and reports the exit
status back. The job's process, log, outputs and exit status are the same as without the server, and so are its
results: the forked command sets its thread count from the job's environment (Snakemake's ``OMP_NUM_THREADS``)
and starts from torch's default random state, as a fresh interpreter does.

It serves the local executor only (the Snakefile starts it in ``onstart`` when jobs run on this machine without
conda or containers; a cluster job runs in its own interpreter) and only the user who started it (the socket lives
in a fresh mode-0700 directory). Without a reachable server a job runs in its own interpreter as usual;
``WEAKDRIVEN_JOB_SERVER=off`` in the environment turns it off. What a job's ``benchmark:`` record measures then
changes: its wall-clock seconds (Table 11) are the job's own, its CPU time and memory are the client's. A library
that reads an environment variable when it is imported (``HF_HUB_OFFLINE``, say) keeps the server's value: the
server starts from the workflow's environment, which is the jobs' but for the thread variables Snakemake sets per
job, and those the forked command applies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path

ENV = "WEAKDRIVEN_JOB_SERVER"  # the socket's path, set for the jobs of a local run; "off": never start or use one
HEADER = struct.Struct("!Q")  # the request's length, sent with the client's three standard streams
# What the workflow's commands import (an import that fails here is left to the job that needs it to report).
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.qwen3.modeling_qwen3",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "accelerate",
    "peft",
    "trl",
    "numpy",
    "pandas",
    "scipy.stats",
    "statsmodels.stats.proportion",
    "math_verify",
    "matplotlib.pyplot",
    "weakdriven.cli",
    "weakdriven.training",
    "weakdriven.eval.pipeline",
    "weakdriven.eval.grading",
    "weakdriven.tables",
)
TORCH_DEFAULT_SEED = 67280421310721  # torch's default generator seed in a fresh interpreter (c10 default_rng_seed_val)


# ---- the client: what a job's `weakdriven` process runs (imports nothing heavy) ----

def run_remote(argv: list[str], path: str) -> int | None:
    """Run ``weakdriven argv`` on the server at ``path``; its exit status, or None when no server answers there (the
    caller then runs the command itself)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    with conn:
        socket.send_fds(conn, [HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        replies = conn.makefile("r")
        started = replies.readline()
        if not started:
            print(f"weakdriven: the job server at {path} closed the connection before starting the command",
                  file=sys.stderr)
            return 1
        pid = json.loads(started)["pid"]

        def forward(signum, _frame):  # Snakemake stops a job by signalling its process: pass it on
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        finished = replies.readline()
        if not finished:
            print(f"weakdriven: the job server at {path} ended before the command (pid {pid}) reported its status",
                  file=sys.stderr)
            return 1
        return int(json.loads(finished)["exit"])


# ---- the server ----

def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    if len(head) != HEADER.size or len(fds) != 3:
        raise ConnectionError(f"a malformed request ({len(head)} header bytes, {len(fds)} streams)")
    (length,) = HEADER.unpack(head)
    chunks, size = [], 0
    while size < length:
        chunk = conn.recv(min(1 << 16, length - size))
        if not chunk:
            raise ConnectionError("the client closed the connection mid-request")
        chunks.append(chunk)
        size += len(chunk)
    return json.loads(b"".join(chunks)), fds


def _exit_status(code) -> int:
    """The interpreter's exit status for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_command(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job's process (streams, directory, environment, threads), run the command and
    exit as an interpreter would."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=os.isatty(stream.fileno()))
    import random

    random.seed()  # a fresh interpreter's random state (the server's would be shared by every job)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads = os.environ.get("OMP_NUM_THREADS")
        if threads and threads.isdigit() and int(threads) > 0:
            torch.set_num_threads(int(threads))
        torch.manual_seed(TORCH_DEFAULT_SEED)
    status = 0
    try:
        from weakdriven.cli import main  # absolute: the server runs as __main__

        main(sys.argv[1:])
    except SystemExit as stop:
        status = _exit_status(stop.code)
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints an uncaught exception
        import traceback

        traceback.print_exc()
        status = 1
    try:
        import atexit

        atexit._run_exitfuncs()  # the job's and the libraries' exit handlers (logging.shutdown flushes its handlers)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


def _supervise(conn: socket.socket) -> None:
    """In a forked child of the server, one per job: fork the command, tell the client its pid, wait for it (a
    client gone away takes the command with it), send the exit status."""
    import threading

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the command itself; this reports its status
    try:
        request, fds = _receive(conn)
    except (ConnectionError, OSError, ValueError) as error:
        print(f"weakdriven job server: {error}", file=sys.stderr)
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_command(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall((json.dumps({"pid": pid}) + "\n").encode())

    def watch_client():
        try:
            while conn.recv(1 << 12):
                pass
        except OSError:
            pass
        try:  # the client ended without the status (killed): so does its command
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    threading.Thread(target=watch_client, daemon=True).start()
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    try:
        conn.sendall((json.dumps({"exit": code if code >= 0 else 128 - code}) + "\n").encode())
    except OSError:
        pass
    os._exit(0)


def preload(modules=PRELOAD) -> None:
    """Import ``modules`` (the ones that import), and resolve the lazy model classes the jobs ask for."""
    from importlib import import_module

    for name in modules:
        try:
            import_module(name)
        except Exception:  # noqa: BLE001 - a job that needs it reports the failure itself
            continue
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        for name in ("AutoModelForCausalLM", "AutoTokenizer", "Trainer", "TrainingArguments", "Qwen3ForCausalLM"):
            getattr(transformers, name, None)


def serve(path: str, parent: int | None = None, modules=PRELOAD) -> None:
    """Listen at ``path`` (first, so that jobs started meanwhile wait in the backlog), preload ``modules``, then fork
    one supervisor per connection until terminated or until the process ``parent`` is gone."""
    def terminated(signum, _frame):
        raise SystemExit(0)  # through the finally below: the socket is removed

    signal.signal(signal.SIGTERM, terminated)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server, served = os.getpid(), 0
    try:
        listener.bind(path)
        listener.listen(64)
        preload(modules)
        listener.settimeout(1.0)
        while parent is None or os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                conn = None
            if conn is not None:
                served += 1
                conn.settimeout(None)
                if os.fork() == 0:
                    try:
                        listener.close()
                        _supervise(conn)
                    finally:
                        os._exit(1)  # never back into the server's loop
                conn.close()
            try:  # reap the supervisors that finished
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                pass
    finally:
        listener.close()
        if os.getpid() == server:
            Path(path).unlink(missing_ok=True)
            print(f"weakdriven job server: {served} commands started from one interpreter", file=sys.stderr)


# ---- started and stopped by the Snakefile ----

_STARTED: list = []  # (process, socket path) of the server this process started: one at a time (start())


def start() -> str | None:
    """Start a server for this process's jobs, which inherit ``WEAKDRIVEN_JOB_SERVER`` (its socket's path, returned);
    None when the variable says ``off`` or names a server already (a workflow run inside another's job)."""
    import atexit
    import subprocess

    if os.environ.get(ENV):
        return None
    directory = tempfile.mkdtemp(prefix="weakdriven-jobs-")  # mode 0700; short enough for a socket's path
    path = os.path.join(directory, "socket")
    process = subprocess.Popen([sys.executable, "-m", "weakdriven.jobserver", path, str(os.getpid())],
                               stdin=subprocess.DEVNULL)
    os.environ[ENV] = path
    _STARTED.append((process, path))
    atexit.register(stop)  # a run that ends without onsuccess/onerror; stop() twice is harmless
    return path


def stop() -> None:
    """End the server :func:`start` started and remove its socket; its jobs' clients have all returned."""
    while _STARTED:
        process, path = _STARTED.pop()
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a server that does not stop is killed
            process.kill()
            process.wait()
        Path(path).unlink(missing_ok=True)
        Path(path).parent.rmdir()
        if os.environ.get(ENV) == path:
            del os.environ[ENV]


def launch() -> None:
    """The ``weakdriven`` console script: through the job server named in the environment if one answers, else in
    this interpreter."""
    path = os.environ.get(ENV)
    if path and path != "off":
        status = run_remote(sys.argv, path)
        if status is not None:
            sys.exit(status)
    from .cli import main

    main()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
