"""Python 3.9+ (SPEC §2; RHEL 9's and Debian 11's system Python is 3.9).

* vermin (PyPI) finds the oldest Python each construct in exporter/ and collectors/ needs
  (stdlib members, ``zip(strict=)``, ``match``, ``X | Y`` outside annotations, ...);
  it must not need more than pyproject's ``requires-python``, and ruff's target agrees.
* Every other CPython this machine has (pyenv's versions, /usr/bin/python3.X) replays
  every bundled scenario and produces exactly what this interpreter produces, and runs
  one live ``--once`` with the process metrics.  The runtime dependencies come from this
  interpreter's site-packages (pure Python, or abi3 for psutil; PyYAML falls back to its
  pure-Python loader).  Where no other interpreter exists the test skips with a reason.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

from helpers import ROOT, lanes, normalize, require, scenario_args, scenario_names

OLDEST = (3, 9)


def _pyproject() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        return f.read()


def test_declared_oldest_python_and_ruff_target():
    text = _pyproject()
    assert re.search(r'^requires-python = ">=3\.9"$', text, re.M), "requires-python must say >=3.9"
    assert re.search(r'^target-version = "py39"$', text, re.M), "ruff must check against Python 3.9"
    assert re.search(r'"vermin>=[0-9.]+"', text), "vermin belongs in the test extras"


def test_vermin_finds_nothing_newer_than_3_9():
    vermin = shutil.which("vermin", path=os.path.dirname(sys.executable)) or shutil.which("vermin")
    require(vermin is not None, "vermin is not installed (pip install -e '.[test]' brings it)")
    r = subprocess.run(
        [vermin, "--target=3.9-", "--no-tips", "--eval-annotations", "--violations", "exporter", "collectors"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, f"vermin: code that needs a Python newer than 3.9:\n{r.stdout}\n{r.stderr}"
    m = re.search(r"Minimum required versions: (\d+)\.(\d+)", r.stdout)
    assert m and (int(m.group(1)), int(m.group(2))) <= OLDEST, r.stdout


def test_vermin_would_catch_a_310_construct(tmp_path):
    """The check above can fail: vermin flags what 3.9 lacks."""
    vermin = shutil.which("vermin", path=os.path.dirname(sys.executable)) or shutil.which("vermin")
    require(vermin is not None, "vermin is not installed")
    bad = tmp_path / "bad.py"
    bad.write_text("def f(a, b):\n    return list(zip(a, b, strict=True))\n")
    r = subprocess.run([vermin, "--target=3.9-", "--no-tips", "--eval-annotations", "--violations", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "zip(strict)" in r.stdout


def other_pythons() -> list[str]:
    """CPython >= 3.9 interpreters on this machine other than the running one."""
    found = {}
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for exe in sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3"))) + sorted(glob.glob("/usr/bin/python3.[0-9]*")):
        if not os.access(exe, os.X_OK) or exe.endswith("-config"):
            continue
        try:
            out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not re.fullmatch(r"\d+\.\d+", out):
            continue
        version = tuple(int(x) for x in out.split("."))
        if version < OLDEST or version == sys.version_info[:2]:
            continue
        found.setdefault(version, exe)
    return [found[v] for v in sorted(found)]


def _env() -> dict:
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "PYTHONPATH": os.pathsep.join([ROOT, *paths]), "PYTHONDONTWRITEBYTECODE": "1"}


def test_every_python_on_this_machine_replays_the_scenarios_alike():
    pythons = other_pythons()
    require(bool(pythons), f"no CPython >= 3.9 besides {sys.version.split()[0]} on this machine (pyenv install 3.9 to check the oldest)")
    versions = [subprocess.run([p, "-V"], capture_output=True, text=True, timeout=30).stdout.strip() for p in pythons]
    print("checked with:", ", ".join(versions))
    names = scenario_names()
    assert names
    here = {n: normalize(lanes(*scenario_args(n)).stdout) for n in names}

    def replay(job):
        py, name = job
        r = subprocess.run([py, "-m", "exporter", *scenario_args(name)], cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
        return py, name, r

    jobs = [(p, n) for p in pythons for n in names]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        for py, name, r in pool.map(replay, jobs):
            assert r.returncode == 0, f"{py} {name}: {r.stderr[-2000:]}"
            assert "Traceback" not in r.stderr
            assert normalize(r.stdout) == here[name], f"{py}: {name} differs from {sys.version.split()[0]}"


def test_oldest_python_reads_the_live_host_and_its_process_metrics():
    pythons = other_pythons()
    require(bool(pythons), "no other CPython >= 3.9 on this machine")
    py = pythons[0]
    r = subprocess.run([py, "-m", "exporter", "--once", "--collector.disable-defaults", "--collector.link"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr
    assert 'lanes_link_up{link="lo"}' in r.stdout
    code = "import sys; from exporter.metrics import render; from exporter.process import ProcessMetrics; sys.stdout.buffer.write(render(ProcessMetrics().families()))"
    r = subprocess.run([py, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr
    v = subprocess.run([py, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, timeout=30).stdout.strip()
    assert f'python_info{{implementation="CPython",major="{v.split(".")[0]}",minor="{v.split(".")[1]}",patchlevel="{v.split(".")[2]}",version="{v}"}} 1' in r.stdout
    assert re.search(r"^process_resident_memory_bytes \d", r.stdout, re.M)
