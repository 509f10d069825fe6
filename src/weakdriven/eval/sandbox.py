"""Running model-written programs: one process per program, resource limits, no network, a private writable
directory and a read-only view of everything else, a wall-clock kill.

Isolation (``isolation="bwrap"``, the default) uses bubblewrap: read-only root, new /tmp, /dev and /proc, the home
directories hidden, new network / PID / IPC / UTS namespaces, the environment cleared, the program's own directory
the only writable place (inside the new /tmp). Run as root, a small launcher inside the sandbox sets the limits and
drops to user ``nobody`` before it starts the program, so that the process limit applies (root is exempt from it).
``isolation="container"`` is for clusters whose evaluation container is the isolation and has no bwrap: the same
limits and private directory, no namespaces. ``isolation="auto"`` picks ``container`` inside a container (apptainer,
singularity, docker, podman: user namespaces for bwrap are rarely available there) and ``bwrap`` elsewhere.

A sandbox that cannot start (bwrap refused by the kernel, an interpreter that user ``nobody`` cannot reach) raises
``SandboxUnavailable``: it is an error of the job, never a failed sample. The launcher announces itself on stderr
before anything else runs; without that announcement the run did not happen. Interpreters inside a directory that
``nobody`` cannot traverse (a clone in a private 0700 directory) are bound into the sandbox through fresh 0755
parents, so the sandbox works wherever the project lives.

Limits: address space ``memory_mb``, CPU time (``timeout_s`` + 1 s), file size, processes, output (the program is
killed once stdout + stderr exceed ``output_limit`` bytes), and a wall-clock kill of the whole process group after
``timeout_s``. A program that breaks a limit ends with a non-zero return code or ``timed_out``.

``check_program`` judges a solution with its tests: it passes only if the tests ran to their end in the same process,
which prints a per-run random marker last (``os._exit(0)`` or ``sys.exit(0)`` before the tests is a failure). An
adversary that reads the marker out of its own code object could still fake it; the sandbox protects the machine,
the marker catches programs that stop early.
"""

from __future__ import annotations

import functools
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
HIDDEN = ("/root", "/home")  # home directories: hidden behind an empty tmpfs
ISOLATIONS = ("auto", "bwrap", "container")
STARTED = "weakdriven-sandbox-started"  # the launcher's first line on stderr
EXEC_FAILED = "weakdriven-sandbox-exec-failed"
# Waits before starting a sample again when user nobody cannot start one more process (EAGAIN: RLIMIT_NPROC counts
# every process of the user, and a fork bomb's thousands of killed processes take a moment to be reaped); after the
# last, the sandbox is unavailable (a job error).
BUSY_RETRIES_S = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)


class SandboxUnavailable(RuntimeError):
    """The sandbox itself could not run a program: a fault of the job's environment, not of the sample."""


def in_container() -> bool:
    """Whether this process runs inside an apptainer/singularity, docker or podman container."""
    return bool(os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
                or any(os.path.exists(p) for p in ("/.singularity.d", "/.dockerenv", "/run/.containerenv")))


@functools.cache
def _bwrap_works() -> bool:
    """Whether bwrap can lay out this module's sandbox here (it needs user namespaces, often missing in containers)."""
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="weakdriven-probe-") as tmp:
        try:
            probe = subprocess.run(_bwrap_command(Path(tmp), [sys.executable, "-I", "-c", "pass"], sys.executable),
                                   capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


def resolve_isolation(isolation: str) -> str:
    """The isolation a run uses (config key ``evaluation.code.isolation``): ``auto`` is ``bwrap`` where bwrap works,
    else ``container`` inside a container; anywhere else it is an error (no sample is run without isolation)."""
    if isolation not in ISOLATIONS:
        raise ValueError(f"config key 'evaluation.code.isolation': {isolation!r} is not one of {ISOLATIONS}")
    if isolation != "auto":
        return isolation
    if _bwrap_works():
        return "bwrap"
    if in_container():
        return "container"
    raise SandboxUnavailable(
        "config key 'evaluation.code.isolation' is 'auto', but bwrap cannot start a sandbox here and this is not a "
        "container: install bubblewrap (Debian/Ubuntu package 'bubblewrap') with user namespaces enabled, or score "
        "code in the code container")


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None  # None if the program was killed before it exited on its own
    timed_out: bool
    stdout: str
    stderr: str
    output_truncated: bool = False
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.output_truncated


_LAUNCHER = """
import os, resource, sys
os.write(2, b"STARTED\\n")
limits = {name: int(value) for name, value in (a.split('=') for a in sys.argv[1].split(','))}
for name, value in limits.items():
    resource.setrlimit(getattr(resource, name), (value, value))
if os.getuid() == 0:
    os.setgroups([]); os.setgid(NOBODY); os.setuid(NOBODY)
try:
    os.execv(sys.argv[2], sys.argv[2:])
except OSError as err:
    os.write(2, ("EXEC_FAILED %s: %s\\n" % (type(err).__name__, err)).encode())
    os._exit(125)
""".replace("NOBODY", str(NOBODY)).replace("EXEC_FAILED", EXEC_FAILED).replace("STARTED", STARTED)


def _processes_of_current_user() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except FileNotFoundError:
                continue
    return count


def _limits(timeout_s: float, memory_mb: int, file_size_mb: int, max_processes: int) -> str:
    # RLIMIT_NPROC counts every process of the user: as nobody that is only sandboxes; as a normal user, theirs too
    nproc = max_processes if os.getuid() == 0 else _processes_of_current_user() + max_processes
    limits = {"RLIMIT_AS": memory_mb << 20, "RLIMIT_CPU": int(timeout_s) + 1, "RLIMIT_FSIZE": file_size_mb << 20,
              "RLIMIT_NPROC": nproc, "RLIMIT_NOFILE": 256, "RLIMIT_CORE": 0}
    return ",".join(f"{k}={v}" for k, v in limits.items())


def _python_dirs(python: str) -> list[str]:
    """The interpreter's and its environment's directories (a venv and the Python it was made from)."""
    dirs = {sys.prefix, sys.base_prefix, str(Path(python).absolute().parents[1]),
            str(Path(python).resolve().parents[1])}
    return sorted(d for d in dirs if d != "/")


def untraversable_ancestor(path: str) -> str | None:
    """The first directory on the way to ``path`` that other users (``nobody``) cannot enter, if any."""
    current = Path("/")
    for part in Path(path).absolute().parts[1:]:
        current = current / part
        try:
            if current.is_dir() and not os.stat(current).st_mode & 0o001:
                return str(current)
        except OSError:
            return str(current)
    return None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _bwrap_command(workdir: Path, inner: list[str], python: str) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bwrap (Debian/Ubuntu package 'bubblewrap') is not installed: install it, or set config key "
            "'evaluation.code.isolation' to 'container' (or 'auto') where the evaluation container is the isolation")
    cmd = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
           "--perms", "1777", "--tmpfs", "/dev/shm"]  # a private shared-memory dir (multiprocessing needs one)
    covered = ["/tmp"]
    for hidden in HIDDEN:
        if os.path.isdir(hidden):
            cmd += ["--tmpfs", hidden]
            covered.append(hidden)
    # Interpreter directories under a hidden path, or behind a directory nobody may enter (a private clone), are
    # bound back read-only; bwrap creates their parents 0755 inside the tmpfs laid over the blocking directory.
    binds = []
    for d in _python_dirs(python):
        blocked = untraversable_ancestor(d) if os.getuid() == 0 else None
        if blocked and not any(_under(blocked, c) for c in covered):
            cmd += ["--perms", "0755", "--tmpfs", blocked]
            covered.append(blocked)
        if any(_under(d, c) for c in covered):
            binds.append(d)
    made = set()
    for d in binds:
        root = max((c for c in covered if _under(d, c)), key=len)
        for parent in reversed(Path(d).parents):  # bwrap would make the missing parents 0700: nobody could not pass
            if _under(str(parent), root) and str(parent) != root and str(parent) not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        cmd += ["--ro-bind", d, d]
    cmd += ["--bind", str(workdir), "/tmp/work", "--chdir", "/tmp/work",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
            "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp/work",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "LANG", "C.UTF-8"]
    if os.getuid() != 0:
        cmd += ["--unshare-user"]
    return cmd + inner


def _read_capped(proc: subprocess.Popen, deadline: float, output_limit: int) -> tuple[bytes, bytes, bool, bool]:
    """stdout, stderr, timed out, truncated: read both pipes until EOF, the deadline or the output cap."""
    out, err = bytearray(), bytearray()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    open_pipes = 2
    while open_pipes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(out), bytes(err), True, False
        for key, _ in sel.select(timeout=min(remaining, 0.5)):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_pipes -= 1
                continue
            key.data.extend(chunk)
            if len(out) + len(err) > output_limit:
                return bytes(out[:output_limit]), bytes(err[:output_limit]), False, True
    return bytes(out), bytes(err), False, False


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_sandboxed(program: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, stdin: str = "",
                  file_size_mb: int = 16, max_processes: int = 32, output_limit: int = 1 << 20,
                  isolation: str = "bwrap", python: str | None = None) -> SandboxResult:
    """Run the Python program text ``program`` in the sandbox; returns its return code, output and whether the
    wall clock (``timeout_s``) killed it. Nothing outside its private directory (removed afterwards) can change."""
    isolation = resolve_isolation(isolation)
    python = python or sys.executable
    if isolation == "container" and os.getuid() == 0 and (
            blocked := untraversable_ancestor(python) or untraversable_ancestor(str(Path(python).resolve()))):
        raise SandboxUnavailable(
            f"user nobody, who runs the sample, cannot enter {blocked} on the way to {python}: make it traversable "
            f"(chmod o+x {blocked}), or use config key 'evaluation.code.isolation: bwrap' outside a container")
    workdir = Path(tempfile.mkdtemp(prefix="weakdriven-sandbox-"))
    try:
        (workdir / "main.py").write_text(program)
        if os.getuid() == 0:
            os.chown(workdir, NOBODY, NOBODY)
            os.chown(workdir / "main.py", NOBODY, NOBODY)
        limits = _limits(timeout_s, memory_mb, file_size_mb, max_processes)
        inner = [python, "-I", "-c", _LAUNCHER, limits, python, "-I", "main.py"]
        if isolation == "bwrap":
            cmd, cwd, env = _bwrap_command(workdir, inner, python), None, None
        else:
            cmd, cwd = inner, workdir
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}
        for wait_s in (*BUSY_RETRIES_S, None):
            started = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            try:
                try:
                    proc.stdin.write(stdin.encode())
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
                out, err, timed_out, truncated = _read_capped(proc, started + timeout_s, output_limit)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                proc.wait()
                proc.stdout.close()
                proc.stderr.close()
            stderr = err.decode(errors="replace")
            if wait_s is None or not stderr.startswith(f"{STARTED}\n{EXEC_FAILED} BlockingIOError"):
                break
            time.sleep(wait_s)  # user nobody is at its process limit: an earlier sample's processes still exiting
        killed = timed_out or truncated
        _check_started(stderr, isolation, proc.returncode, python)
        return SandboxResult(returncode=None if killed else proc.returncode, timed_out=timed_out,
                             stdout=out.decode(errors="replace"), stderr=stderr.split("\n", 1)[1],
                             output_truncated=truncated, wall_s=round(time.monotonic() - started, 3))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check_started(stderr: str, isolation: str, returncode: int | None, python: str) -> None:
    """Raise SandboxUnavailable unless the launcher ran and started the program."""
    setting = "config key 'evaluation.code.isolation'"
    if not stderr.startswith(STARTED + "\n"):
        hint = ("inside a container bwrap usually cannot create namespaces: set it to 'container' (or 'auto')"
                if isolation == "bwrap" else "check that the interpreter runs")
        raise SandboxUnavailable(f"the {isolation} sandbox did not start (return code {returncode}): "
                                 f"{stderr.strip()[-500:] or 'no output'}; {setting} is {isolation!r}: {hint}")
    failed = [line for line in stderr.splitlines()[1:2] if line.startswith(EXEC_FAILED)]
    if failed:
        raise SandboxUnavailable(f"the {isolation} sandbox started but could not run {python} as user nobody: "
                                 f"{failed[0][len(EXEC_FAILED) + 1:]}; {setting} is {isolation!r}")


def check_program(solution: str, tests: str, **kwargs) -> tuple[bool, SandboxResult]:
    """Run ``solution`` followed by ``tests`` in one sandboxed process; passed only if the tests ran to their end."""
    marker = f"weakdriven-tests-passed-{secrets.token_hex(16)}"
    program = f"{solution}\n\n{tests}\n\nprint({marker!r}, flush=True)\n"
    result = run_sandboxed(program, **kwargs)
    lines = result.stdout.rstrip("\n").splitlines()
    return bool(result.ok and lines and lines[-1] == marker), result
