"""Architecture rules that keep lanes honest."""

import ast
import os

from helpers import ROOT

import collectors

PY_DIRS = ("exporter", "collectors")


def modules():
    for d in PY_DIRS:
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if name.endswith(".py"):
                path = os.path.join(ROOT, d, name)
                with open(path) as f:
                    yield f"{d}/{name}", ast.parse(f.read())


def imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module.split(".")[0]


def calls(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                yield node.lineno


def test_only_host_runs_commands():
    bad = [m for m, tree in modules() if m != "exporter/host.py" and {"subprocess", "pty", "pexpect"} & set(imported(tree))]
    assert not bad, f"subprocess outside exporter/host.py: {bad}"


def test_no_shell_anywhere():
    for m, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "shell":
                raise AssertionError(f"{m}:{node.lineno}: shell= keyword")
        assert not list(calls(tree, "system")), f"{m}: os.system"
        assert not list(calls(tree, "popen")), f"{m}: os.popen"


def test_only_host_opens_host_paths_and_sockets():
    # config.py reads the config files and cli.py writes snapshot.yml: not host paths
    allowed_open = {"exporter/host.py", "exporter/config.py", "exporter/cli.py"}
    # exporter/sockdiag.py is the host layer's sock_diag and route reader (LiveHost uses it)
    allowed_socket = {"exporter/host.py", "exporter/http.py", "exporter/sockdiag.py"}
    for m, tree in modules():
        if m not in allowed_open:
            assert not list(calls(tree, "open")), f"{m} calls open(): go through exporter.host"
            for fn in ("read_text", "read_bytes", "listdir", "scandir", "readlink") if m.startswith("collectors/") else ():
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == fn:
                        owner = node.func.value
                        assert not (isinstance(owner, ast.Name) and owner.id in ("os", "Path", "pathlib")), f"{m}:{node.lineno}: os.{fn}"
        if m not in allowed_socket:
            assert "socket" not in set(imported(tree)), f"{m} imports socket: go through exporter.host"


def test_collectors_do_not_branch_on_platform():
    for m, tree in modules():
        if m.startswith("collectors/"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr == "platform" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                    raise AssertionError(f"{m}:{node.lineno}: sys.platform in a collector (platforms are declared)")


def test_registry_is_consistent():
    seen = set()
    for c in collectors.ALL:
        assert c.name and c.platforms and c.description, c
        for p in c.platforms:
            assert (c.name, p) not in seen, f"two collectors named {c.name} on {p}"
            seen.add((c.name, p))


def test_every_collector_is_in_the_readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    missing = [c.name for c in collectors.ALL if f"`{c.name}`" not in readme]
    assert not missing, f"collectors without a README row: {missing}"
