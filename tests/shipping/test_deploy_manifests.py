"""Container image and Kubernetes manifests (issue 7 item 4).

No cluster exists where the tests run, so nothing here is applied (the image itself is
built and run by tests/shipping/test_container.py).  What is checked: the Containerfile line by line (instructions, non-root user,
the flags of ENTRYPOINT/CMD, the mounts of its ``run`` label) and the Kubernetes YAML
(DaemonSet, Service, ServiceMonitor, kustomization): every ``lanes_exporter`` flag they
use is in ``lanes_exporter --help``, every host path they mount is one the collectors
read (derived from the collectors' source), mounts are read-only, the container runs
as non-root without capabilities on the host network, and the ports and selectors agree.
The container's command line is also run for real against this host, with a directory
standing in for the ``/host`` mount.
"""

from __future__ import annotations

import json
import os
import re
import shlex

import pytest
import yaml
from conftest import ROOT
from helpers import lanes, parse_exposition

CONTAINERFILE = os.path.join(ROOT, "deploy", "container", "Containerfile")
K8S = os.path.join(ROOT, "deploy", "kubernetes")
PORT = 10147  # SPEC §2 default listen address
HOST_PREFIX = "/host"


# ------------------------------------------------------------------ shared facts


@pytest.fixture(scope="module")
def help_flags() -> set[str]:
    r = lanes("--help")
    assert r.returncode == 0, r.stderr
    return set(re.findall(r"(--[a-z][a-z0-9.\-]*[a-z0-9])", r.stdout))


def read_paths() -> set[str]:
    """Absolute host paths named in the collectors and the host layer (string literals
    and the static prefix of f-strings), e.g. /proc/net/dev, /run/multipathd.socket."""
    out = set()
    for sub in ("collectors", "exporter"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, sub)):  # packages too
            for name in sorted(f for f in files if f.endswith(".py")):
                text = open(os.path.join(base, name), encoding="utf-8").read()
                out |= set(re.findall(r"""["'](/(?:proc|sys|etc|run|var|dev)(?:/[A-Za-z0-9_.,:\-]+)*)""", text))
    return out


def mount_is_read(host_path: str, paths: set[str]) -> bool:
    """A mount is justified when it is a path lanes reads or a directory above one."""
    host_path = host_path.rstrip("/") or "/"
    return any(p == host_path or p.startswith(host_path + "/") for p in paths)


def flags_of(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def test_read_paths_are_found():
    """The derivation above sees the sources the README and SPEC name."""
    paths = read_paths()
    for must in ("/proc/net/dev", "/sys/class/net", "/proc/diskstats", "/run/multipathd.socket"):
        assert mount_is_read(must, paths), must
    assert not mount_is_read("/etc/shadow", paths) and not mount_is_read("/var/log", paths)


# ------------------------------------------------------------------ Containerfile


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for raw in open(CONTAINERFILE, encoding="utf-8").read().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = buf + line
        buf = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not buf, "Containerfile ends in a continuation"
    return out


def _labels(rest: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(rest))


def test_containerfile_instructions():
    ins = containerfile()
    known = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "LABEL", "ENTRYPOINT", "CMD", "ARG", "HEALTHCHECK"}
    assert {i for i, _ in ins} <= known, {i for i, _ in ins} - known
    args = dict(r.split("=", 1) for i, r in ins if i == "ARG" and "=" in r)
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], r) for i, r in ins if i == "FROM"]
    assert froms and all(":" in f.split()[0] and not f.split()[0].endswith(":latest") for f in froms), "pin base images"
    # the last USER is numeric and not root (Kubernetes runAsNonRoot can only check numbers)
    user = [r for i, r in ins if i == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, user
    assert [r for i, r in ins if i == "EXPOSE"] == [str(PORT)]
    # what is copied is what the wheel needs (pyproject, README as long description, packages)
    copied = {r.split()[0] for i, r in ins if i == "COPY" and not r.startswith("--from")}
    for src in copied:
        assert os.path.exists(os.path.join(ROOT, src.rstrip("/"))), f"COPY {src}: not in the checkout"


def test_containerfile_command_line(help_flags):
    ins = dict(containerfile())
    entry = json.loads(ins["ENTRYPOINT"])
    cmd = json.loads(ins["CMD"])
    assert entry == ["/usr/bin/lanes_exporter"]
    for flag in flags_of(cmd):
        assert flag in help_flags, f"CMD uses {flag}, not in lanes_exporter --help"
    assert f"--path.rootfs={HOST_PREFIX}" in cmd
    assert f"--web.listen-address=:{PORT}" in cmd


def test_containerfile_run_label(help_flags):
    """The ``run`` label (podman container runlabel): host network, read-only, no
    capabilities, and read-only mounts of paths lanes reads, below /host."""
    labels = {}
    for i, rest in containerfile():
        if i == "LABEL":
            labels.update(_labels(rest))
    run = shlex.split(labels["run"])
    assert run[:2] == ["podman", "run"] and run[-1] == "IMAGE"
    for opt in ("--network=host", "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"):
        assert opt in run, opt
    assert not any(a.startswith(("--privileged", "--cap-add", "--user=0", "--pid=host")) for a in run)
    mounts = [run[i + 1] for i, a in enumerate(run) if a in ("-v", "--volume")]
    assert mounts, "no host mounts"
    paths = read_paths()
    for m in mounts:
        host, container, opts = m.split(":")
        assert "ro" in opts.split(","), f"{m}: mount read-only"
        assert container == HOST_PREFIX + host, f"{m}: the host path must appear at /host<path> for --path.rootfs=/host"
        assert mount_is_read(host, paths), f"{m}: lanes reads nothing below {host}"
    assert {m.split(":")[0] for m in mounts} >= {"/proc", "/sys"}


# ------------------------------------------------------------------ Kubernetes


def k8s_docs() -> list[dict]:
    docs = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def one(kind: str) -> dict:
    found = [d for d in k8s_docs() if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_kustomization_lists_every_manifest():
    k = one("Kustomization")
    files = sorted(n for n in os.listdir(K8S) if n.endswith((".yaml", ".yml")) and n != "kustomization.yaml")
    assert sorted(k["resources"]) == files


def test_daemonset_security(help_flags):
    ds = one("DaemonSet")
    assert ds["apiVersion"] == "apps/v1"
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert not pod.get("hostPID") and not pod.get("hostIPC")
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] not in (None, 0)
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert not sc.get("privileged") and sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
    # the image's uid (Containerfile USER) is the pod's
    user = [r for i, r in containerfile() if i == "USER"][-1]
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
    for flag in flags_of(c["args"]):
        assert flag in help_flags, f"DaemonSet uses {flag}, not in lanes_exporter --help"
    assert f"--path.rootfs={HOST_PREFIX}" in c["args"]


def test_daemonset_mounts_only_what_lanes_reads():
    pod = one("DaemonSet")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    paths = read_paths()
    assert {m["name"] for m in c["volumeMounts"]} == set(volumes), "every volume is mounted, every mount has a volume"
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        assert set(v) == {"name", "hostPath"}, f"{m['name']}: only hostPath volumes"
        host = v["hostPath"]["path"]
        assert m.get("readOnly") is True, f"{m['name']}: mount read-only"
        assert m["mountPath"] == HOST_PREFIX + host, f"{m['name']}: {host} must appear at /host{host}"
        assert mount_is_read(host, paths), f"{m['name']}: lanes reads nothing below {host}"
    assert {v["hostPath"]["path"] for v in volumes.values()} >= {"/proc", "/sys"}
    # the flags point where the mounts are
    args = dict(a.split("=", 1) for a in c["args"] if "=" in a)
    mounted = {m["mountPath"] for m in c["volumeMounts"]}
    assert args["--path.procfs"] in mounted and args["--path.sysfs"] in mounted


def test_service_and_servicemonitor_agree_with_the_daemonset():
    ds, svc, sm = one("DaemonSet"), one("Service"), one("ServiceMonitor")
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    (cport,) = c["ports"]
    assert cport["containerPort"] == PORT
    listen = [a for a in c["args"] if a.startswith("--web.listen-address=")]
    assert listen == [f"--web.listen-address=:{PORT}"]
    (sport,) = svc["spec"]["ports"]
    assert sport["targetPort"] in (cport["name"], PORT)
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] == sport["name"] and ep["path"] == "/metrics"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in (cport["name"], PORT)


# ------------------------------------------------------------------ the command line, run


def test_container_command_line_runs_against_this_host(tmp_path):
    """CMD's flags with /host replaced by a directory whose proc and sys point at this
    host's: the same collectors succeed as in a plain run (this is the sysfs path that
    lanes takes whenever --path.* point elsewhere)."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "proc").symlink_to("/proc")
    (host / "sys").symlink_to("/sys")
    cmd = json.loads(dict(containerfile())["CMD"])
    args = [a.replace(f"={HOST_PREFIX}", f"={host}") for a in cmd if not a.startswith("--web.listen-address")]
    boxed = lanes(*args, "--once")
    plain = lanes("--once")
    assert boxed.returncode == 0 and plain.returncode == 0, boxed.stderr + plain.stderr

    def success(text):
        return {k[1][0][1]: v for k, v in parse_exposition(text).items() if k[0] == "lanes_collector_success"}

    assert success(boxed.stdout) == success(plain.stdout)
    links = {dict(k[1])["link"] for k in parse_exposition(boxed.stdout) if k[0] == "lanes_link_up"}
    assert "lo" in links and links == {dict(k[1])["link"] for k in parse_exposition(plain.stdout) if k[0] == "lanes_link_up"}
