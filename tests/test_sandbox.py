"""The code-execution sandbox against adversarial programs: every one ends as fail or timeout, the harness keeps
going, and nothing outside the sandbox changes."""

import ast
import hashlib
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO

from weakdriven import run_sandboxed
from weakdriven.eval.sandbox import SandboxUnavailable, check_program

# make env installs bubblewrap; under CI a missing bwrap is a failure, not a skip
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None and not os.environ.get("CI"),
                                reason="bubblewrap is not installed (make env installs it)")

FAST = {"timeout_s": 3.0, "memory_mb": 512}


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """Files the programs will attack: a canary directory the sandbox can see (read-only), a home file, the grader."""
    tempfile_dir = os.path.join("/var/tmp", f"wd-canary-{os.getpid()}")
    canary = Path(tempfile_dir)
    canary.mkdir(exist_ok=True)
    (canary / "keep.txt").write_text("precious")
    os.chmod(canary, 0o755)
    home = Path.home() / f".wd-sandbox-canary-{os.getpid()}"
    home.write_text("home secret")
    yield {"canary": canary, "home": home, "grader": REPO / "src" / "weakdriven" / "eval" / "grading.py"}
    shutil.rmtree(tempfile_dir, ignore_errors=True)
    home.unlink(missing_ok=True)


def fingerprint(*paths: Path) -> dict:
    out = {}
    for root in paths:
        for p in ([root] if root.is_file() else sorted(root.rglob("*"))):
            if p.is_file():
                out[str(p)] = (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[str(p)] = "dir"
    return out


def test_a_normal_program_runs_and_reports_its_output():
    result = run_sandboxed("import sys\nprint(sum(range(10)))\nprint('warn', file=sys.stderr)", **FAST)
    assert (result.returncode, result.timed_out, result.stdout, result.stderr) == (0, False, "45\n", "warn\n")
    assert result.ok and result.wall_s < 3
    assert run_sandboxed("raise SystemExit(3)", **FAST).returncode == 3


def test_stdin_reaches_the_program_and_tmp_is_private(tmp_path):
    host_file = Path("/tmp") / f"wd-host-only-{os.getpid()}"
    host_file.write_text("host")
    try:
        result = run_sandboxed("import os\nprint(input()[::-1])\nopen('/tmp/x', 'w').write('1')\n"
                               "print(os.listdir('/tmp'))", stdin="abc\n", **FAST)
    finally:
        host_file.unlink()
    first, second = result.stdout.splitlines()
    listing = ast.literal_eval(second)
    # a fresh /tmp: the program's own directory, what it wrote, and at most the interpreter's directory (read-only,
    # when the environment lives under /tmp as in CI's clone) -- never the host's files
    assert first == "cba" and {"work", "x"} <= set(listing) and host_file.name not in listing
    assert len(set(listing) - {"work", "x"}) <= 1
    assert not Path("/tmp/x").exists()


def test_deleting_files_outside_fails(outside):
    before = fingerprint(outside["canary"])
    result = run_sandboxed(f"import shutil\nshutil.rmtree({str(outside['canary'])!r})", **FAST)
    assert result.returncode != 0 and "Errno" in result.stderr
    assert fingerprint(outside["canary"]) == before


def test_writing_files_outside_fails(outside):
    target = outside["canary"] / "new.txt"
    for path in (target, REPO / "pwned.txt", Path("/usr/pwned")):
        result = run_sandboxed(f"open({str(path)!r}, 'w').write('x')", **FAST)
        assert result.returncode != 0 and not path.exists()


def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("WD_API_KEY", "sk-top-secret")
    program = "import os, sys\nprint(sorted(os.environ))\nsys.exit(0 if 'WD_API_KEY' in os.environ else 1)"
    result = run_sandboxed(program, **FAST)
    assert result.returncode == 1 and "sk-top-secret" not in result.stdout
    # nor through /proc: the host's processes are in another PID namespace
    result = run_sandboxed(f"print(open('/proc/{os.getpid()}/environ').read())", **FAST)
    assert result.returncode != 0 and "sk-top-secret" not in result.stdout


def test_home_files_are_not_readable(outside):
    result = run_sandboxed(f"print(open({str(outside['home'])!r}).read())", **FAST)
    assert result.returncode != 0 and "home secret" not in result.stdout
    assert "home secret" not in run_sandboxed("import os\nprint(os.listdir(os.path.expanduser('~')))", **FAST).stdout


def test_network_connections_fail():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    port = server.getsockname()[1]
    program = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'leak')"
    result = run_sandboxed(program, **FAST)
    assert result.returncode != 0 and ("Network is unreachable" in result.stderr or "refused" in result.stderr)
    with pytest.raises(TimeoutError):
        server.accept()  # nothing reached the host
    server.close()
    assert run_sandboxed("import socket\nsocket.create_connection(('8.8.8.8', 53), timeout=1)", **FAST).returncode != 0


def test_fork_bomb_is_contained_and_the_harness_keeps_going():
    started = time.monotonic()
    result = run_sandboxed("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
                           timeout_s=2.0)
    assert result.timed_out and result.returncode is None and time.monotonic() - started < 10
    assert run_sandboxed("print('still fine')", **FAST).stdout == "still fine\n"


def test_memory_bomb_fails():
    result = run_sandboxed("x = []\nwhile True:\n    x.append(bytearray(64 << 20))", timeout_s=5.0, memory_mb=256)
    assert result.returncode != 0 and "MemoryError" in result.stderr


def test_infinite_loop_times_out_within_the_limit():
    started = time.monotonic()
    result = run_sandboxed("while True:\n    pass", timeout_s=1.5)
    assert result.timed_out and result.returncode is None and not result.ok
    assert time.monotonic() - started < 5


def test_sleeping_past_the_limit_is_killed_by_the_wall_clock():
    started = time.monotonic()
    result = run_sandboxed("import time\ntime.sleep(60)\nprint('woke')", timeout_s=1.0)
    assert result.timed_out and "woke" not in result.stdout and time.monotonic() - started < 5


def test_huge_output_is_capped_and_the_program_killed():
    result = run_sandboxed("while True:\n    print('x' * 10000)", timeout_s=5.0, output_limit=100_000)
    assert result.output_truncated and not result.ok and len(result.stdout) <= 100_000
    result = run_sandboxed("open('big', 'wb').write(b'0' * (64 << 20))", timeout_s=5.0, file_size_mb=1)
    assert result.returncode != 0  # SIGXFSZ / EFBIG past the file-size limit


def test_killing_the_parent_does_not_reach_the_harness():
    me = os.getpid()
    program = (f"import os, signal\nfor pid in (os.getppid(), {me}, -1):\n    try:\n"
               "        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(type(e).__name__)\n"
               "raise SystemExit(1)")
    result = run_sandboxed(program, **FAST)
    assert result.returncode != 0
    assert os.getpid() == me and threading.main_thread().is_alive()  # we are still here


def test_os_exit_and_sys_exit_before_the_tests_fail_the_check():
    tests = "assert add(2, 2) == 4\nassert add(-1, 1) == 0"
    assert check_program("def add(a, b):\n    return a + b", tests, **FAST)[0]
    assert not check_program("def add(a, b):\n    return a - b", tests, **FAST)[0]
    assert not check_program("import os\nos._exit(0)\ndef add(a, b):\n    return 0", tests, **FAST)[0]
    assert not check_program("import sys\nsys.exit(0)", tests, **FAST)[0]


def test_tampering_with_the_grader_fails_and_changes_nothing(outside):
    before = fingerprint(outside["grader"], REPO / "src")
    solution = (f"try:\n    open({str(outside['grader'])!r}, 'w').write('def grade(*a): return True')\n"
                "except OSError as e:\n    print('blocked', e.errno, flush=True)\n"
                "print('weakdriven-tests-passed-0000', flush=True)\nimport os\nos._exit(0)")
    passed, result = check_program(solution, "assert False", **FAST)
    assert not passed and "blocked" in result.stdout
    assert fingerprint(outside["grader"], REPO / "src") == before


def test_nothing_outside_changed_after_the_whole_suite(outside):
    assert (outside["canary"] / "keep.txt").read_text() == "precious"
    assert outside["home"].read_text() == "home secret"
    assert sys.executable  # the interpreter the sandbox borrows read-only still runs us


HOLD_THE_LIMIT = """import os, time
for _ in range(64):
    try:
        if os.fork() == 0:
            time.sleep(1.5)
            os._exit(0)
    except OSError:
        break
time.sleep(1.5)
"""


@pytest.mark.skipif(os.getuid() != 0, reason="samples run as user nobody (whose process limit is shared) only as root")
@pytest.mark.parametrize("retries", [True, False])
def test_a_sample_waits_while_user_nobody_is_at_its_process_limit(monkeypatch, retries):
    """RLIMIT_NPROC counts every process of user nobody: while another sample holds them all (a fork bomb being
    reaped), the next one starts once they are gone instead of failing the job."""
    from weakdriven.eval import sandbox

    if not retries:
        monkeypatch.setattr(sandbox, "BUSY_RETRIES_S", ())
    # one sample forks up to the limit (32 processes of nobody); one more sample still starts (the kernel checks the
    # count before adding the new process) and sleeps: 33; a third one finds nobody over its limit
    holder = threading.Thread(target=run_sandboxed, args=(HOLD_THE_LIMIT,), kwargs={"timeout_s": 5.0})
    holder.start()
    time.sleep(0.7)
    sleeper = threading.Thread(target=run_sandboxed, args=("import time\ntime.sleep(1.2)",), kwargs={"timeout_s": 5.0})
    sleeper.start()
    time.sleep(0.3)
    try:
        if retries:
            assert run_sandboxed("print('ok')", **FAST).stdout == "ok\n"
        else:
            with pytest.raises(SandboxUnavailable, match="BlockingIOError"):
                run_sandboxed("print('ok')", **FAST)
    finally:
        holder.join()
        sleeper.join()
