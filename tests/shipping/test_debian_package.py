"""The Debian package (deploy/debian/build.sh): built with dpkg-deb, installed with
``apt-get install ./lanes-exporter_*.deb`` into a Debian 12 tree, run from that tree as its
unit says (systemd is not PID 1 here: the unit's ExecStart, User and EnvironmentFile are
applied by hand, in a network namespace of its own), scraped with curl, then purged: the
tree must be file for file what it was before the install, /etc/passwd and /etc/group too.

The tree is the container base (deploy/container/build-base.sh: mmdebstrap of Debian 12
minbase plus exactly the package's Depends), cached under .cache/container, so the
install resolves its dependencies offline and the machine running the tests is left
alone.  That the Depends exist in Debian is checked against the host's apt lists.
Needs root, dpkg-deb, mmdebstrap (first run, with network), unshare, ip and curl.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid

import pytest
from conftest import REQUIRE
from helpers import ROOT, require, require_tool

BUILD = os.path.join(ROOT, "deploy", "debian", "build.sh")
BASE = os.path.join(ROOT, "deploy", "container", "build-base.sh")
# paths the package manager itself changes on any install or purge
_BOOKKEEPING = ("var/lib/dpkg/", "var/log/", "var/cache/apt/", "var/lib/apt/", "var/cache/debconf/", "var/cache/ldconfig/", "tmp/")
# the shadow suite's own backups of the account files (useradd(8), userdel(8) write them
# on every change; their content is the previous version of a file compared below)
_SHADOW_BACKUPS = ("etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-")


def _tools():
    require(os.geteuid() == 0, "needs root (chroot, network namespace, mounts)")
    for t in ("dpkg-deb", "chroot", "unshare", "curl", "ip"):
        require_tool(t)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    require_tool("dpkg-deb")
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    r = subprocess.run(["bash", BUILD, str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), r.stdout
    print(f"deb built in {time.monotonic() - started:.1f}s")
    return path


def base_tarball() -> str:
    """The cached Debian 12 tree (built on first use; needs mmdebstrap and the mirror)."""
    require(os.geteuid() == 0, "needs root to build and unpack a Debian tree")
    require(shutil.which("mmdebstrap") is not None or bool(_cached()), "mmdebstrap not installed and no cached base under .cache/container")
    r = subprocess.run(["bash", BASE, "--no-import"], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    require(r.returncode == 0 or REQUIRE, f"could not build the Debian base (no mirror?): {r.stderr[-500:]}")
    assert r.returncode == 0, r.stderr[-3000:]
    tar = r.stdout.strip().splitlines()[-1]
    assert tar.endswith(".tar") and os.path.isfile(tar), r.stdout
    return tar


def _cached() -> list[str]:
    d = os.path.join(ROOT, ".cache", "container")
    return [f for f in os.listdir(d) if f.endswith(".tar")] if os.path.isdir(d) else []


def _control(deb: str) -> dict[str, str]:
    text = subprocess.run(["dpkg-deb", "-f", deb], capture_output=True, text=True, check=True, timeout=60).stdout
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line
        else:
            key, _, v = line.partition(":")
            fields[key] = v.strip()
    return fields


def _depends(deb: str) -> list[tuple[str, str]]:
    out = []
    for item in _control(deb)["Depends"].split(","):
        m = re.fullmatch(r"\s*([a-z0-9.+-]+)\s*(?:\(([^)]*)\))?\s*", item)
        assert m, item
        out.append((m.group(1), (m.group(2) or "").strip()))
    return out


def test_package_metadata_and_contents(deb):
    f = _control(deb)
    from exporter import __version__

    assert f["Package"] == "lanes-exporter" and f["Version"] == f"{__version__}-1" and f["Architecture"] == "all"
    names = {n for n, _ in _depends(deb)}
    assert {"python3", "python3-prometheus-client", "python3-psutil", "python3-pyroute2", "python3-yaml"} <= names
    assert "bcrypt" not in f["Depends"] and "python3-bcrypt" in f.get("Suggests", "")
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True, timeout=60).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}
    for must in ("/usr/bin/lanes_exporter", "/lib/systemd/system/lanes.service", "/etc/default/lanes", "/etc/lanes/config.yml",
                 "/usr/lib/sysusers.d/lanes.conf", "/usr/share/lanes-exporter/exporter/cli.py", "/usr/share/lanes-exporter/exporter/process.py",
                 "/usr/share/doc/lanes-exporter/copyright", "/usr/share/doc/lanes-exporter/changelog.gz"):
        assert must in paths, f"{must} not in the package"
    assert not any("__pycache__" in p or "/tests/" in p for p in paths)
    import collectors

    for cls in collectors.ALL:  # every registered collector ships (a module or a package)
        base = "/usr/share/lanes-exporter/" + cls.__module__.replace(".", "/")
        assert base + ".py" in paths or base + "/__init__.py" in paths, base
    # and every file of a collector package
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "collectors")):
        for name in files:
            if name.endswith(".py") and "__pycache__" not in dirpath:
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                assert "/usr/share/lanes-exporter/" + rel in paths, f"{rel} not in the package"
    conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert conffiles == ["/etc/default/lanes", "/etc/lanes/config.yml"]


def test_depends_are_the_container_base_and_exist_in_debian(deb):
    """One package list: the base tree the install test uses is exactly the Depends (plus
    what minbase has), and every dependency has a Debian candidate that satisfies it."""
    with open(BASE, encoding="utf-8") as f:
        base = set(re.search(r'^PACKAGES="([^"]+)"', f.read(), re.M).group(1).split(","))
    deps = dict(_depends(deb))
    assert {n for n in deps if n.startswith("python3-")} == {n for n in base if n != "python3-minimal"}
    require(shutil.which("apt-cache") is not None, "apt-cache not installed")
    for name, constraint in deps.items():
        policy = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, timeout=60).stdout
        m = re.search(r"Candidate: (\S+)", policy)
        require(bool(m) and m.group(1) != "(none)", f"no apt candidate for {name} (apt-get update?)")
        if constraint:
            op, version = constraint.split()
            ok = subprocess.run(["dpkg", "--compare-versions", m.group(1), {">=": "ge"}[op], version], timeout=30).returncode == 0
            assert ok, f"Debian's {name} {m.group(1)} does not satisfy ({constraint})"


def _tree_state(root: str) -> tuple[set[str], dict[str, str]]:
    files = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel in ("proc", "sys", "dev"):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = os.path.normpath(os.path.join(rel, name))
            if not p.startswith(_BOOKKEEPING) and p not in _SHADOW_BACKUPS:
                files.add(p)
    accounts = {}
    for name in ("passwd", "group", "shadow", "gshadow"):
        path = os.path.join(root, "etc", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                accounts[name] = f.read()
    return files, accounts


def _chroot(root: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["chroot", root, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _unit(root: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(os.path.join(root, "lib/systemd/system/lanes.service"), encoding="utf-8") as f:
        for line in f:
            if "=" in line and not line.startswith(("#", "[")):
                k, _, v = line.strip().partition("=")
                out.setdefault(k, []).append(v)
    return out


def _exec_start(root: str) -> tuple[str, list[str]]:
    """ExecStart with $ARGS from the EnvironmentFile, as systemd.service(5) expands an
    unbraced $VAR (split at whitespace), and the User= it runs as."""
    unit = _unit(root)
    env = {}
    for ef in unit["EnvironmentFile"]:
        path = ef.lstrip("-")
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, _, v = line.partition("=")
                    env[k] = shlex.split(v)[0] if v else ""
    argv = []
    for word in unit["ExecStart"][0].split():
        if word.startswith("$") and not word.startswith("${"):
            argv += env.get(word[1:], "").split()
        else:
            argv.append(word)
    return unit["User"][0], argv


def test_install_run_scrape_purge(deb, tmp_path):
    _tools()
    tar = base_tarball()
    root = str(tmp_path / "root")
    os.mkdir(root)
    t0 = time.monotonic()
    # a Debian tree made by mmdebstrap as root: devices, owners and modes as they are
    subprocess.run(["tar", "--numeric-owner", "-xf", tar, "-C", root], check=True, timeout=300)
    before = _tree_state(root)
    shutil.copy(deb, os.path.join(root, "tmp"))
    name = os.path.basename(deb)

    r = _chroot(root, "apt-get", "install", "-y", "--no-install-recommends", f"/tmp/{name}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Setting up lanes-exporter" in r.stdout

    # what postinst made
    pw = _chroot(root, "getent", "passwd", "lanes").stdout.strip().split(":")
    assert pw[0] == "lanes" and int(pw[2]) < 1000 and pw[5] == "/var/lib/lanes" and pw[6] == "/usr/sbin/nologin", pw
    st = os.stat(os.path.join(root, "var/lib/lanes"))
    assert st.st_uid == int(pw[2]) and oct(st.st_mode & 0o777) == "0o750"
    assert os.path.islink(os.path.join(root, "etc/systemd/system/multi-user.target.wants/lanes.service")), "unit not enabled"
    r = _chroot(root, "lanes_exporter", "--version")
    assert r.returncode == 0 and r.stdout.startswith("lanes_exporter "), r.stderr
    r = _chroot(root, "lanes_exporter", "--check-config")
    assert r.returncode == 0 and "config: /etc/lanes/config.yml" in r.stdout, r.stdout + r.stderr

    # the installed unit passes systemd-analyze verify on this host (the minbase tree has
    # no systemd to verify against): ExecStart pointed at the tree's launcher, which must
    # exist and be executable for verify to pass
    sa = require_tool("systemd-analyze")
    with open(os.path.join(root, "lib/systemd/system/lanes.service"), encoding="utf-8") as f:
        unit_text = f.read()
    assert "ExecStart=/usr/bin/lanes_exporter $ARGS" in unit_text
    (tmp_path / "lanes.service").write_text(unit_text.replace("ExecStart=/usr/bin/lanes_exporter", f"ExecStart={root}/usr/bin/lanes_exporter"))
    v = subprocess.run([sa, "verify", str(tmp_path / "lanes.service")], capture_output=True, text=True, timeout=120)
    assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), v.stdout + v.stderr

    # ExecStart by hand, as User=, in a network namespace of its own (its lo only)
    user, argv = _exec_start(root)
    assert argv[0] == "/usr/bin/lanes_exporter" and "--web.listen-address=:10147" in argv, argv
    ns = f"lanes-lab-deb-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    proc = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        q = shlex.quote
        script = (f"mount -t proc proc {q(root)}/proc && mount -t sysfs sysfs {q(root)}/sys && "
                  f"exec chroot --userspec={q(user)}:{q(user)} {q(root)} " + " ".join(q(a) for a in argv))
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            c = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sf", "--max-time", "10", "http://127.0.0.1:10147/metrics"], capture_output=True, text=True, timeout=30)
            if c.returncode == 0:
                body = c.stdout
                break
            time.sleep(0.3)
        assert body, f"no scrape from the installed lanes: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        assert 'lanes_link_up{link="lo"} 1' in body
        assert 'lanes_collector_success{collector="link"} 1' in body
        assert re.search(r"^process_resident_memory_bytes \d", body, re.M)
        m = re.search(r'^python_info\{implementation="CPython",major="3",minor="(\d+)".*\} 1$', body, re.M)
        assert m, "python_info missing"
        # the process runs as the unit's user
        ps = _chroot(root, "getent", "passwd", user).stdout.split(":")[2]
        with open(f"/proc/{proc.pid}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        assert uid == ps
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        subprocess.run(["ip", "netns", "del", ns], timeout=30)
    assert proc.returncode == 0, proc.stderr.read()

    r = _chroot(root, "apt-get", "purge", "-y", "lanes-exporter")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    os.remove(os.path.join(root, "tmp", name))
    after = _tree_state(root)
    assert sorted(after[0] - before[0]) == [], "left behind after purge"
    assert sorted(before[0] - after[0]) == [], "removed by install + purge"
    assert after[1] == before[1], "accounts differ after purge"
    print(f"extract, install, run, scrape, purge: {time.monotonic() - t0:.1f}s")
