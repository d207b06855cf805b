"""illumos kstat(8) ``-p`` output and the command runners every illumos collector uses.

``kstat -p`` prints ``module:instance:name:statistic<TAB>value`` per line (usr/src/cmd/stat/
kstat/kstat.c); published copies show blanks instead of the TAB (real-captures.md I-1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from exporter.api import Host, ParseError, slug

#: seconds a kstat or dladm command may take when the collector sets no other timeout
KSTAT_TIMEOUT = 5.0

KStats = dict[tuple[str, int, str], dict[str, str]]


def parse_kstat_p(text: str, source: str = "kstat -p") -> KStats:
    """``kstat -p``: ``module:instance:name:statistic<TAB>value`` per line.

    Split at the first TAB (a published copy may carry blanks instead: real-captures I-1),
    module and instance are the first two ``:`` fields and the statistic is after the
    last ``:``; whatever lies between is the kstat name (kstat(8) does not escape colons).
    String values can be empty.  Returns {(module, instance, name): {statistic: value}}."""
    out: KStats = {}
    prefix_seen: str | None = None
    current: dict[str, str] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line or line.isspace():
            continue
        key, tab, value = line.partition("\t")
        if not tab:
            parts = line.split(None, 1)
            key, value = parts[0], (parts[1] if len(parts) > 1 else "")
        key = key.strip()
        prefix, c3, stat = key.rpartition(":")
        if not c3 or not stat:
            raise ParseError(source, lineno, f"not module:instance:name:statistic: {key[:60]!r}")
        if prefix != prefix_seen:  # consecutive lines of one kstat share the prefix
            module, c1, rest = prefix.partition(":")
            inst, c2, name = rest.partition(":")
            if not (c1 and c2) or not module or not name:
                raise ParseError(source, lineno, f"not module:instance:name:statistic: {key[:60]!r}")
            if not (inst.isascii() and inst.isdigit()):  # "²".isdigit() but int() refuses it
                raise ParseError(source, lineno, f"instance is not a number: {inst[:20]!r}")
            current = out.setdefault((module, int(inst), name), {})
            prefix_seen = prefix
        current[stat] = value.strip()
    return out



def first_uint(stats: Mapping[str, str] | None, *names: str) -> int | None:
    """First of ``names`` present as an unsigned integer (64-bit name first, then the
    32-bit one on hosts that only have that)."""
    if not stats:
        return None
    for n in names:
        v = stats.get(n)
        if v is not None and v.isascii() and v.isdigit():
            return int(v)
    return None


def kstat_uint(stats: Mapping[str, str], stat: str, source: str) -> int | None:
    """An unsigned kstat value, None when the statistic is absent; ParseError otherwise."""
    text = stats.get(stat)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ParseError(source, None, f"{stat}: not an unsigned integer: {text[:40]!r}")
    return int(text)


def run_kstat(host: Host, selectors: Sequence[str], timeout: float = KSTAT_TIMEOUT) -> str:
    """Run ``kstat -p`` with explicit selectors.  kstat(8) exits 1 when nothing matched
    (usr/src/man/man8/kstat.8): that is an empty result, not a failure."""
    r = host.run("kstat", ["-p", *selectors], timeout=timeout)
    if r.returncode == 1 and not r.stdout.strip() and not r.stderr.strip():
        return ""
    if r.returncode != 0:
        raise RuntimeError(f"kstat -p {' '.join(selectors)}: exit {r.returncode}: {r.stderr.strip()[:200]}")
    return r.stdout


def run_tool(host: Host, tool: str, args: Sequence[str], timeout: float) -> str:
    """Run an illumos tool; its stdout, or RuntimeError naming the tool, the exit status and
    the first line of stderr."""
    r = host.run(tool, list(args), timeout=timeout)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"{tool} {' '.join(args)}: exit {r.returncode}: {why}")
    return r.stdout


#: longest snapshot file name a batch of selectors may produce (file names stop at 255 bytes)
MAX_SLUG = 200


def name_selector(module: str, instance: int, names: Iterable[str]) -> str:
    """One selector for several kstats of a module: ``link:0:/^(aggr0|e1000g0)$/``.  kstat(8)
    takes an extended regular expression between slashes in any field (kstat.c ks_match;
    the Perl kstat of older releases takes a Perl one).  An explicit name matters: builds
    before 2016 read every kstat whose module *or* name matches (kstat.c
    ks_instances_read), so an empty name field (``*``) would read the whole system."""
    alts = "|".join(re.sub(r"([^A-Za-z0-9_-])", r"[\1]", n) for n in names)
    return f"{module}:{instance}:/^({alts})$/"


def batched_selectors(module: str, instance: int, names: Iterable[str], extra: Sequence[str] = ()) -> list[list[str]]:
    """``kstat -p`` argument lists covering ``names`` (plus ``extra`` selectors in the first
    one), split so that each command's snapshot file name stays below MAX_SLUG: one
    command on a typical host, a few on a host with many VNICs."""

    def args_for(batch: list[str], first: bool) -> list[str]:
        args = ["-p"]
        if batch:
            args.append(name_selector(module, instance, batch))
        return args + list(extra) if first else args

    out: list[list[str]] = []
    cur: list[str] = []
    for name in sorted(set(names)):
        if cur and len(slug("kstat", args_for([*cur, name], not out))) > MAX_SLUG:
            out.append(args_for(cur, not out))
            cur = []
        cur.append(name)
    if cur or (not out and extra):
        out.append(args_for(cur, not out))
    return out


def read_kstat_commands(host: Host, commands: Sequence[Sequence[str]], timeout: float = KSTAT_TIMEOUT) -> KStats:
    out: KStats = {}
    for args in commands:
        out.update(parse_kstat_p(run_tool(host, "kstat", args, timeout)))
    return out
