"""Every module of the node's packages can be the first one a process imports.

The app's own entry points import `node` first, which hides an import cycle between two modules
further down (a module that imports another's names while that one is half-initialised). A
script, a worker or a test that starts elsewhere would fail. Each module is imported in a fresh
process forked from this one before any of the project's modules are loaded.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("node", "federation", "delegates", "workers")

# Run in a separate interpreter: this test process has imported the project long ago.
CHECK = """
import importlib, os, sys
ours = {name.split(".")[0] for name in sys.argv[1:]}
# Load every third-party module the project uses once, here, so that each child below only runs
# the project's own modules: found by a first child that imports them all.
before = set(sys.modules)
read, write = os.pipe()
if os.fork() == 0:
    os.close(read)
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except BaseException:
            pass
    loaded = [m for m in set(sys.modules) - before if m.split(".")[0] not in ours]
    os.write(write, "\\n".join(loaded).encode())
    os._exit(0)
os.close(write)
with os.fdopen(read) as pipe:
    third_party = pipe.read().split()
os.wait()
for name in sorted(third_party):
    try:
        importlib.import_module(name)
    except BaseException:
        pass
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
print("FAILED", " ".join(failed))
"""


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" not in info.name:  # Alembic's scripts, run only by Alembic
                names.append(info.name)
    return names


def test_each_module_imports_first() -> None:
    modules = project_modules()
    assert "federation.pledges" in modules and len(modules) > 100
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    result = subprocess.run([sys.executable, "-c", CHECK, *modules], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "FAILED", result.stdout


def test_the_check_catches_a_cycle(tmp_path: Path) -> None:
    # Two modules that import each other's names: whichever comes first fails.
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (package / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    result = subprocess.run([sys.executable, "-c", CHECK, "cyclic.a"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.stdout.strip().splitlines()[-1] == "FAILED cyclic.a", result.stdout
    assert importlib.util.find_spec("cyclic") is None  # nothing leaked into this process
