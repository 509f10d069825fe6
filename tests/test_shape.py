"""The package's shape: no import cycle, function-local imports only where they keep torch out, and the modules the
workflow and the torch-free containers import stay torch-free."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = {"torch", "transformers", "vllm", "trl", "deepspeed", "accelerate", "datasets"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "weakdriven").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        out[name] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules (or external top-level packages) an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not node.level:
        return [node.module or ""]
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _imports(module: str) -> tuple[set[str], list[tuple[str, str]]]:
    """(module-level imports, [(function, import)] of function-local ones) of a package module."""
    tree = ast.parse(MODULES[module].read_text())
    top = {t for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom) for t in _targets(module, node)}
    local = [(fn.name, t) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
             for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom) for t in _targets(module, node)]
    return top, local


def _with_parents(target: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = target.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(MODULES)


def _edges(module: str) -> set[str]:
    """What importing ``module`` loads first; its own packages are already being loaded when it runs."""
    own = _with_parents(module)
    return set().union(*(_with_parents(t) for t in _imports(module)[0] if t.startswith("weakdriven")), set()) - own


GRAPH = {m: _edges(m) for m in MODULES}


def test_no_import_cycle():
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [])
    assert not cycles, cycles


def _heavy(module: str, seen=None) -> bool:
    """Whether importing the module loads torch (or another heavy library) at module level."""
    seen = seen if seen is not None else set()
    if module in seen:
        return False
    seen.add(module)
    top = _imports(module)[0]
    return any(t.split(".")[0] in HEAVY for t in top) or any(_heavy(t, seen) for t in top if t in MODULES)


# The console script's module: its job-server client runs once per job of a local run and must not pay the CLI's
# imports (stages, config: about a second), so the CLI is imported only where a command runs.
LAUNCHER = {("weakdriven.jobserver", "launch", "weakdriven.cli"), ("weakdriven.jobserver", "_run_command",
                                                                    "weakdriven.cli")}


def test_function_local_imports_of_the_package_only_keep_torch_out():
    light = [(m, fn, t) for m in MODULES for fn, t in _imports(m)[1] if t in MODULES and not _heavy(t)]
    assert sorted(set(light) - LAUNCHER) == [], f"import these at the top of their modules: {light}"
    assert LAUNCHER <= set(light)  # the exemption names what is there


def test_the_job_server_client_imports_neither_the_cli_nor_torch():
    program = ("import sys, weakdriven.jobserver\n"
               "print(sorted(m for m in ('weakdriven.cli', 'weakdriven.stages', 'torch', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_workflow_and_torch_free_containers_import_no_torch():
    program = ("import sys, weakdriven.cli, weakdriven.stages, weakdriven.config, weakdriven.tables, "
               "weakdriven.eval.pipeline, weakdriven.methods, weakdriven.cost, weakdriven.prefetch\n"
               f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
