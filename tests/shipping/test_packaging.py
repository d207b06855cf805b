"""Install paths (issue 7 item 1): sdist and wheel built with ``python -m build``, the wheel
installed into a fresh venv, and the example config accepted by ``--check-config``.

The build runs on a copy of the tracked files so that it never writes ``build/`` or
``*.egg-info`` into the checkout other tests use.  ``python -m build`` builds the sdist
first and the wheel from the unpacked sdist, so a file missing from the sdist breaks the
wheel too.  The build is offline (``--no-isolation``) when this interpreter already has
the build backend ``pyproject.toml`` asks for, else isolated (pip fetches setuptools).

The fresh venv gets the wheel with ``--no-deps --no-index``; the runtime dependencies
come from this interpreter's site-packages through a ``.pth`` path entry (a path entry,
not a site dir: the ``.pth`` files in it, such as an editable install of lanes, are not
executed), so nothing is downloaded and the checkout cannot leak in.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from conftest import ROOT
from helpers import lanes, normalize, parse_exposition, require, scenario_args, scenario_names, value

EXAMPLE = os.path.join(ROOT, "deploy", "config.example.yml")


# --------------------------------------------------------------------- example config


def test_example_config_passes_check_config():
    r = lanes("--config.file", EXAMPLE, "--check-config")
    assert r.returncode == 0, r.stderr
    assert f"config: {EXAMPLE}" in r.stdout
    assert "declared groups: iscsi-mpio, mgmt" in r.stdout
    assert "sampler: every 1s" in r.stdout
    # and on illumos, where the same file must serve too
    r = lanes("--config.file", EXAMPLE, "--check-config", "--platform", "illumos")
    assert r.returncode == 0, r.stderr


def test_example_config_breaks_on_a_typo(tmp_path):
    """The check above can fail: a misspelt key in the same file is rejected with its line."""
    text = open(EXAMPLE, encoding="utf-8").read().replace("    exclude:", "    exclde:", 1)
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("    exclde:"))) + 1
    bad = str(tmp_path / "config.yml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(text)
    r = lanes("--config.file", bad, "--check-config")
    assert r.returncode == 2
    assert f"{bad}:{line}:" in r.stderr and "exclde" in r.stderr


def _known_top_level_keys() -> set[str]:
    """The config's top-level keys, as the parser itself lists them in its error."""
    from exporter.cli import collector_options
    from exporter.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as e:
        parse_config("no-such-key: 1\n", "probe.yml", collector_options())
    m = re.search(r"known: ([a-z_, ]+)", str(e.value))
    assert m, str(e.value)
    return {k.strip() for k in m.group(1).split(",")}


def _documented(text: str) -> set[str]:
    """Keys explained in comments: ``# key:`` at any indentation."""
    return set(re.findall(r"^\s*#\s+([a-z_]+):", text, re.M))


def test_example_config_documents_every_key():
    """Every top-level key, every collector in the registry with each of its options, and
    the fields of groups/sampler are present and explained in a comment."""
    import collectors
    from exporter.cli import collector_options
    from exporter.config import COMMON_OPTIONS

    text = open(EXAMPLE, encoding="utf-8").read()
    data = yaml.safe_load(text)
    documented = _documented(text)

    top = _known_top_level_keys()
    assert set(data) == top, f"example config should show every top-level key: {sorted(top)}"
    assert top <= documented, f"top-level keys without a comment: {sorted(top - documented)}"

    opts = collector_options()
    missing = [n for n in collectors.names() if n not in data["collectors"]]
    assert not missing, f"collectors in collectors.ALL missing from deploy/config.example.yml: {missing}"
    for name in collectors.names():
        shown = set(data["collectors"][name] or {})
        want = set(opts[name])
        assert want <= shown, f"collectors.{name}: options not shown: {sorted(want - shown)}"
        assert want <= documented, f"collectors.{name}: options without a comment: {sorted(want - documented)}"
    # the options every collector takes: explained once, shown at least once
    for key in COMMON_OPTIONS:
        assert key in documented, f"common option {key} has no comment"
        assert any(key in (v or {}) for v in data["collectors"].values()), f"common option {key} not shown"
    assert {"members", "balancing", "policy", "interval"} <= documented


def test_example_config_commands_are_tools_lanes_runs():
    """Every tool under commands: is one a collector runs (``host.run("<tool>", ...)``)."""
    ran = set()
    for base, _dirs, files in os.walk(os.path.join(ROOT, "collectors")):  # packages too
        for name in (f for f in files if f.endswith(".py")):
            with open(os.path.join(base, name), encoding="utf-8") as f:
                # host.run("tool", ...) and collectors._kstat.run_tool(host, "tool", ...)
                ran |= set(re.findall(r"""run(?:_tool)?\(\s*(?:[\w.]+,\s*)?["']([a-z][a-z0-9_-]*)["']""", f.read()))
    assert {"dmsetup", "kstat", "dladm"} <= ran, ran
    with open(EXAMPLE, encoding="utf-8") as f:
        tools = set(yaml.safe_load(f)["commands"])
    assert tools <= ran, f"commands: names tools no collector runs: {sorted(tools - ran)}"


# --------------------------------------------------------------------- sdist and wheel


def _tracked_copy(dest: str) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    require(any(files), "not a git checkout: cannot tell which files belong to the source tree")
    for rel in filter(None, (f.decode() for f in files)):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            with open(src, "rb") as i, open(dst, "wb") as o:
                o.write(i.read())
    # work in progress that is not committed yet still belongs in the build
    for sub in ("exporter", "collectors"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, sub)):  # packages too
            rel = os.path.relpath(base, ROOT)
            for name in files:
                if name.endswith(".py") and not os.path.exists(os.path.join(dest, rel, name)):
                    os.makedirs(os.path.join(dest, rel), exist_ok=True)
                    with open(os.path.join(base, name), "rb") as i, open(os.path.join(dest, rel, name), "wb") as o:
                        o.write(i.read())


def _backend_present() -> bool:
    """True when every [build-system] requirement is satisfied by this interpreter."""
    from packaging.requirements import Requirement

    try:
        import tomllib  # novermin (guarded: tomli below)
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            return False  # cannot tell: build isolated
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requires = tomllib.load(f)["build-system"]["requires"]
    for spec in requires:
        req = Requirement(spec)
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(have, prereleases=True):
            return False
    return True


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    try:
        import build  # noqa: F401
        import packaging  # noqa: F401
    except ImportError:
        require(False, "python -m build is not installed (pip install -e '.[test]' brings it)")
    src = tmp_path_factory.mktemp("src")
    out = tmp_path_factory.mktemp("dist")
    _tracked_copy(str(src))
    cmd = [sys.executable, "-m", "build", "--outdir", str(out)]
    r = None
    if _backend_present():
        r = subprocess.run([*cmd, "--no-isolation", str(src)], capture_output=True, text=True, timeout=300)
        if r.returncode != 0 and "Missing dependencies" in r.stdout + r.stderr:
            r = None  # the backend wants more (e.g. an old setuptools asks for wheel): isolate
    if r is None:
        r = subprocess.run([*cmd, str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    sdists = [p for p in os.listdir(out) if p.endswith(".tar.gz")]
    wheels = [p for p in os.listdir(out) if p.endswith(".whl")]
    assert len(sdists) == 1 and len(wheels) == 1, os.listdir(out)
    return os.path.join(out, sdists[0]), os.path.join(out, wheels[0]), str(src)


def _version() -> str:
    from exporter import __version__

    return __version__


def test_sdist_and_wheel_contents(built):
    sdist, wheel, _ = built
    version = _version()
    assert os.path.basename(sdist) == f"lanes_exporter-{version}.tar.gz"
    assert os.path.basename(wheel) == f"lanes_exporter-{version}-py3-none-any.whl"

    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for must in ("pyproject.toml", "README.md", "LICENSE", "exporter/cli.py", "collectors/__init__.py"):
        assert must in names, f"sdist lacks {must}"

    import collectors

    with zipfile.ZipFile(wheel) as z:
        wnames = set(z.namelist())
        meta = z.read(f"lanes_exporter-{version}.dist-info/METADATA").decode()
        entry = z.read(f"lanes_exporter-{version}.dist-info/entry_points.txt").decode()
    # every registered collector's module (or package, with all its modules) ships
    for cls in collectors.ALL:
        path = cls.__module__.replace(".", "/")
        assert path + ".py" in wnames or path + "/__init__.py" in wnames, path
    for base, _dirs, files in os.walk(os.path.join(ROOT, "collectors")):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(base, name), ROOT)
                assert rel in wnames, f"wheel lacks {rel}"
    assert "[console_scripts]" in entry and "lanes_exporter = exporter.cli:main" in entry
    requires = {re.split(r"[ ;<>=!~\[]", line.split(":", 1)[1].strip())[0].lower() for line in meta.splitlines() if line.startswith("Requires-Dist:")}
    # SPEC §2 runtime dependencies
    assert {"prometheus-client", "psutil", "pyroute2", "pyyaml"} <= requires, requires
    assert not any(n.startswith("tests/") for n in wnames), "tests must not be installed as a package"
    # the license text travels with the wheel; bcrypt only with the auth extra
    assert any(n.startswith(f"lanes_exporter-{version}.dist-info/") and n.endswith("LICENSE") for n in wnames), sorted(wnames)[-8:]
    assert "Requires-Python: >=3.9" in meta
    bcrypt_lines = [line for line in meta.splitlines() if line.startswith("Requires-Dist: bcrypt")]
    assert bcrypt_lines and all("extra ==" in line for line in bcrypt_lines), bcrypt_lines
    assert any(line.startswith("Requires-Dist: bcrypt") and "extra == \"auth\"" in line for line in bcrypt_lines), bcrypt_lines


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory):
    _, wheel, _ = built
    v = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(v)], check=True, capture_output=True, timeout=120)
    py = str(v / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # runtime dependencies from this interpreter, as a plain path entry (see module doc)
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    outer = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    with open(os.path.join(purelib, "zz_lanes_test_deps.pth"), "w") as f:
        f.write("\n".join(outer) + "\n")
    return v


def _run(v, *args, cwd):
    return subprocess.run([str(v / "bin" / "lanes_exporter"), *args], capture_output=True, text=True, timeout=60, cwd=cwd, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})


def test_wheel_installs_into_a_fresh_venv(venv, tmp_path):
    # the code that runs is the wheel's, not the checkout's
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import exporter, collectors; print(exporter.__file__); print(collectors.__file__)"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        assert line.startswith(str(venv)), f"imported from outside the venv: {line}"

    r = _run(venv, "--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"lanes_exporter {_version()} ")

    r = _run(venv, "--once", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    samples = parse_exposition(r.stdout)
    py = ".".join(map(str, sys.version_info[:3]))  # the venv runs this interpreter
    assert value(samples, "lanes_exporter_build_info", version=_version(), python_version=py, platform="linux") == 1
    assert value(samples, "lanes_collector_success", collector="link") == 1
    assert value(samples, "lanes_link_up", link="lo") is not None, "the live loopback link is missing"


def test_wheel_replays_the_scenarios_like_its_source(built, venv, tmp_path):
    """Every bundled scenario replays the same from the installed wheel as from the
    source tree the wheel was built from (whether that output is right is
    tests/test_scenarios.py's job)."""
    src = built[2]
    names = scenario_names()
    assert names

    def both(name):
        r = _run(venv, *scenario_args(name), cwd=tmp_path)
        here = subprocess.run([sys.executable, "-m", "exporter", *scenario_args(name)], cwd=src, capture_output=True, text=True, timeout=60)
        return name, r, here

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        for name, r, here in pool.map(both, names):
            assert r.returncode == 0, f"{name}: {r.stderr}"
            assert here.returncode == 0, here.stderr
            assert normalize(r.stdout) == normalize(here.stdout), f"{name}: the wheel and its source disagree"


def test_wheel_check_config_with_the_example(venv, tmp_path):
    r = _run(venv, "--config.file", EXAMPLE, "--check-config", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "declared groups: iscsi-mpio, mgmt" in r.stdout
