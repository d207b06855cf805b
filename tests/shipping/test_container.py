"""The container image, really built and run (deploy/container/).

1. The base: Debian 12 from Debian's packages by mmdebstrap into a tarball, imported with
   ``podman import`` (deploy/container/build-base.sh; cached under .cache/container, keyed
   by the package list: only the first run downloads).
2. ``podman build`` of deploy/container/Containerfile on that base.
3. ``podman run`` as the image's ``run`` label says (read-only root, no capabilities,
   no-new-privileges, the host's /proc and /sys read-only under /host), on a network
   namespace this test creates instead of the host network, and a scrape with curl from
   inside that namespace.

No registry is needed.  Skips with a reason where podman cannot run containers (no root,
no podman, no OCI runtime that works on this kernel's cgroup layout); LANES_TEST_REQUIRE=1
(.ci/run) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid

import pytest
from conftest import REQUIRE
from helpers import ROOT, require

BASE = os.path.join(ROOT, "deploy", "container", "build-base.sh")
CONTAINERFILE = os.path.join(ROOT, "deploy", "container", "Containerfile")


def _podman(*args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"podman {' '.join(args)}: {r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    require(shutil.which("podman") is not None, "podman not installed (apt-get install podman; scripts/test.sh does)")
    require(os.geteuid() == 0, "needs root for podman with a network namespace")
    require(shutil.which("mmdebstrap") is not None or os.path.isdir(os.path.join(ROOT, ".cache", "container")), "mmdebstrap not installed")
    t0 = time.monotonic()
    r = subprocess.run(["bash", BASE], capture_output=True, text=True, timeout=1800, cwd=ROOT)
    require(r.returncode == 0 or REQUIRE, f"could not build the Debian base (no mirror?): {r.stderr[-500:]}")
    assert r.returncode == 0, r.stderr[-3000:]
    base = r.stdout.strip().splitlines()[-1]
    t1 = time.monotonic()
    tag = f"localhost/lanes-exporter:test-{uuid.uuid4().hex[:8]}"
    # --isolation=chroot: RUN steps need no OCI runtime (and so no cgroups) to build
    b = _podman("build", "--isolation=chroot", "--build-arg", f"BASE={base}", "-t", tag, "-f", CONTAINERFILE, ROOT, timeout=900)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    t2 = time.monotonic()
    print(f"container: base {t1 - t0:.1f}s (cached when under 5s), build {t2 - t1:.1f}s")
    yield tag
    _podman("rmi", "-f", tag, timeout=120)


def _ulimits() -> list[str]:
    """Limits no higher than this process has: podman's defaults would raise them, which
    needs CAP_SYS_RESOURCE (not granted in every sandbox that runs the tests)."""
    import resource

    out = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(which)
        lim = min(x for x in (soft, hard, 4096) if x != resource.RLIM_INFINITY)
        out += ["--ulimit", f"{name}={lim}:{lim}"]
    return out


@pytest.fixture(scope="module")
def runtime(image):
    """Podman's default OCI runtime, or runc where crun refuses this host's cgroups (crun
    refuses a hybrid v1/v2 layout with controllers on the v2 side)."""
    errors = []
    for extra in ([], ["--runtime", "runc"]):
        if extra and shutil.which("runc") is None:
            errors.append("runc: not installed")
            continue
        r = _podman("run", "--rm", "--network", "none", *extra, *_ulimits(), image, "--version", timeout=120)
        if r.returncode == 0:
            assert r.stdout.startswith("lanes_exporter "), r.stdout
            return extra
        errors.append(f"{' '.join(extra) or 'default runtime'}: {r.stderr.strip()[-300:]}")
    require(False, "podman cannot run a container here: " + "; ".join(errors))


def test_image_metadata(image):
    info = json.loads(_podman("image", "inspect", image, check=True).stdout)[0]
    cfg = info["Config"]
    assert cfg["User"] == "10147:10147"
    assert cfg["Entrypoint"] == ["/usr/bin/lanes_exporter"]
    assert "--path.rootfs=/host" in cfg["Cmd"] and "--web.listen-address=:10147" in cfg["Cmd"]
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "--read-only" in labels["run"] and "--cap-drop=ALL" in labels["run"]


def test_image_runs_on_a_namespace_and_is_scraped(image, runtime, tmp_path):
    ns = f"lanes-lab-ctr-{uuid.uuid4().hex[:8]}"
    name = f"lanes-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        # the image's run label, with this namespace instead of the host network
        label = json.loads(_podman("image", "inspect", image, check=True).stdout)[0]["Config"]["Labels"]["run"]
        argv = shlex.split(label)
        assert argv[:3] == ["podman", "run", "-d"] and argv[-1] == "IMAGE"
        opts, rest = [], argv[3:-1]
        assert "--network=host" in rest
        while rest:
            a = rest.pop(0)
            if a == "--network=host":
                continue
            if a == "--name":
                rest.pop(0)
                a = f"--name={name}"
            opts.append(a)
        r = _podman("run", "-d", *opts, f"--network=ns:/var/run/netns/{ns}", *runtime, *_ulimits(), image, timeout=120)
        assert r.returncode == 0, r.stderr
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            c = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sf", "--max-time", "10", "http://127.0.0.1:10147/metrics"], capture_output=True, text=True, timeout=30)
            if c.returncode == 0:
                body = c.stdout
                break
            time.sleep(0.3)
        logs = _podman("logs", name).stderr
        assert body, f"no scrape from the container: {logs[-2000:]}"
        assert 'lanes_collector_success{collector="link"} 1' in body
        assert re.search(r'^lanes_link_up\{link="lo"\} 1$', body, re.M), "the host's lo (from /host/sys) is missing"
        assert re.search(r"^process_resident_memory_bytes \d", body, re.M)
        assert re.search(r'^python_info\{implementation="CPython",major="3",minor="11",patchlevel="\d+",version="3\.11\.\d+"\} 1$', body, re.M), "Debian 12's python3"
        # JSON logs, as the image's CMD asks
        first = json.loads(next(line for line in logs.splitlines() if line.startswith("{")))
        assert first["logger"] == "lanes"
        # runs as 10147, read-only root
        top = _podman("top", name, "huser", check=True).stdout.split()
        assert "10147" in top[1:], top
        w = _podman("exec", name, "/usr/bin/python3", "-c", "open('/x', 'w')")
        assert w.returncode != 0 and "Read-only file system" in w.stderr
        stop = _podman("stop", "-t", "20", name, timeout=60)
        assert stop.returncode == 0
        state = json.loads(_podman("inspect", name, check=True).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state  # SIGTERM: a clean exit
    finally:
        _podman("rm", "-f", name, timeout=60)
        subprocess.run(["ip", "netns", "del", ns], timeout=30)
