"""Architecture rules that keep lanes honest."""

import ast
import os

from helpers import ROOT

import collectors

PY_DIRS = ("exporter", "collectors")


def modules():
    """(path relative to the repository, tree) of every module, packages included."""
    for d in PY_DIRS:
        for base, _dirs, files in sorted(os.walk(os.path.join(ROOT, d))):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(base, name)
                    with open(path) as f:
                        yield os.path.relpath(path, ROOT), ast.parse(f.read())


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
    # config.py reads the config files, cli.py writes snapshot.yml, state.py lanes' own state
    # file (--state.dir): not host paths
    allowed_open = {"exporter/host.py", "exporter/config.py", "exporter/cli.py", "exporter/state.py"}
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


# ------------------------------------------------------------------ import rules (the collector contract)


def _module_name(rel: str) -> str:
    name = rel[:-3].replace(os.sep, ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def project_modules() -> dict[str, ast.Module]:
    """Every module of exporter/ and collectors/, packages included: dotted name -> tree."""
    out = {}
    for d in PY_DIRS:
        for base, _dirs, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(base, f)
                    with open(path) as fh:
                        out[_module_name(os.path.relpath(path, ROOT))] = ast.parse(fh.read())
    return out


def imports_of(tree: ast.Module, known: set[str]) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for every import of a project module, local imports included;
    ``from pkg import mod`` counts as an import of pkg.mod."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] in PY_DIRS]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PY_DIRS:
            plain = []
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if sub in known:
                    out.append((node.lineno, sub, []))
                else:
                    plain.append(a.name)
            if plain:
                out.append((node.lineno, node.module, plain))
    return out


def _graph() -> tuple[dict[str, ast.Module], dict[str, list[tuple[int, str, list[str]]]]]:
    mods = project_modules()
    return mods, {m: imports_of(tree, set(mods)) for m, tree in mods.items()}


def _is_collector(module: str) -> bool:
    """A collector module (or package): collectors.<name> whose name has no underscore
    prefix.  Underscore modules (collectors._facts, _lacp, _parse, ...) are shared."""
    parts = module.split(".")
    return parts[0] == "collectors" and len(parts) >= 2 and not parts[1].startswith("_")


def test_no_import_cycles():
    mods, graph = _graph()
    edges = {m: sorted({t for _, t, _ in imps if t in mods and t != m}) for m, imps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_exporter_imports_collectors_only_from_the_registry():
    _, graph = _graph()
    bad = [f"{m}:{line} imports {t}" for m, imps in graph.items() if m.startswith("exporter") for line, t, _ in imps if t.split(".")[0] == "collectors" and m != "exporter.registry"]
    assert not bad, bad


def test_collectors_import_only_the_api_of_exporter():
    _, graph = _graph()
    bad = [f"{m}:{line} imports {t}" for m, imps in graph.items() if m.startswith("collectors") for line, t, _ in imps if t.split(".")[0] == "exporter" and t != "exporter.api"]
    assert not bad, f"collectors import exporter.api only: {bad}"


def test_no_collector_imports_another_collector():
    _, graph = _graph()
    bad = []
    for m, imps in graph.items():
        if m == "collectors":
            continue  # the registry lists them all
        for line, t, _ in imps:
            if _is_collector(t) and t.split(".")[:2] != m.split(".")[:2]:
                bad.append(f"{m}:{line} imports {t}")
    assert not bad, f"shared code belongs in an underscore module (collectors/_*.py): {bad}"


def test_no_private_name_crosses_modules():
    mods, graph = _graph()
    bad = []
    for m, imps in graph.items():
        aliases = set()
        for line, t, names in imps:
            bad += [f"{m}:{line} imports {t}.{n}" for n in names if n.startswith("_") and n != "__version__"]
        for node in ast.walk(mods[m]):
            if isinstance(node, ast.ImportFrom) and node.module in PY_DIRS:
                aliases.update(a.asname or a.name for a in node.names)
            elif isinstance(node, ast.Import):
                aliases.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] in PY_DIRS)
        for node in ast.walk(mods[m]):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    bad.append(f"{m}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, bad


def test_collectors_build_families_only_through_the_checked_api():
    """Samples are added with Family.add, add_stateset or Stateset (exporter.metrics, the one
    module that touches samples): no collector writes fam.samples or builds a Family around
    its checks."""
    mods = project_modules()
    bad = []
    for m, tree in mods.items():
        if not m.startswith("collectors"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("samples", "add_str", "__new__"):
                bad.append(f"{m}:{node.lineno} .{node.attr}")
    assert not bad, bad
