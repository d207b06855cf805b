"""Command line: flags -> settings; --once, --record, --snapshot, --check-config, serve.

Exit codes (SPEC §3): 0 ok; 2 bad flags, config or web config, with one line naming the
file, line and problem; 1 anything else.  No traceback ever reaches a user (``--log.level
debug`` logs one for unexpected errors).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform as _platform
import signal
import sys
import threading
import time
from collections.abc import Sequence

from exporter import __version__, registry, state
from exporter.api import SAMPLE_READERS, Context
from exporter.config import Config, ConfigError, WebConfig, load_config, load_web_config
from exporter.host import Host, LiveHost, RecordingHost, SnapshotHost, detect_platform, read_snapshot_meta
from exporter.metrics import render
from exporter.sampler import Sampler
from exporter.scrape import DEFAULT_TIMEOUT, Scraper

PROG = "lanes_exporter"
DEFAULT_CONFIG = "/etc/lanes/config.yml"
DEFAULT_LISTEN = ":10147"
#: how long SIGTERM waits for in-flight requests (SPEC §10: exit within 5 s)
DRAIN_SECONDS = 3.5
log = logging.getLogger("lanes")


class UsageError(Exception):
    """Bad flags, config or web config: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print usage too)
        raise UsageError(f"bad flags: {message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Prometheus exporter for the network paths of storage systems: NIC aggregates, IPMP, multipath, iSCSI, NVMe.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    web = p.add_argument_group("web")
    web.add_argument("--web.listen-address", dest="listen", action="append", metavar="ADDR", help=f"address to listen on; repeatable (default {DEFAULT_LISTEN})")
    web.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics", metavar="PATH", help="path under which to expose metrics (default /metrics)")
    web.add_argument("--web.config.file", dest="web_config", metavar="FILE", help="exporter-toolkit web config: TLS and basic auth")
    p.add_argument("--config.file", dest="config", metavar="FILE", help=f"YAML config (default {DEFAULT_CONFIG} if present)")
    paths = p.add_argument_group("host")
    paths.add_argument("--path.rootfs", dest="rootfs", default="/", metavar="DIR", help="read host files below DIR (containers)")
    paths.add_argument("--path.procfs", dest="procfs", metavar="DIR", help="procfs mount point (default ROOTFS/proc)")
    paths.add_argument("--path.sysfs", dest="sysfs", metavar="DIR", help="sysfs mount point (default ROOTFS/sys)")
    paths.add_argument("--netlink", dest="netlink", action=argparse.BooleanOptionalAction, default=None, help="read links from netlink even with --path.* (a container on the host network namespace); --no-netlink reads sysfs always. Default: netlink only at the real root")
    paths.add_argument("--platform", choices=("linux", "illumos", "freebsd"), help="force the platform instead of detecting it")
    paths.add_argument("--snapshot", metavar="DIR", help="serve from a recorded host snapshot instead of the live host")
    paths.add_argument("--record", metavar="DIR", help="run every enabled collector once against the live host, write a snapshot to DIR, exit")
    paths.add_argument("--record.scrub", dest="record_scrub", action="store_true", help="with --record: replace hostnames, IQNs, NQNs, MACs, IP addresses, WWNs/WWIDs, UUIDs and serials by consistent placeholders (support bundles; docs/support-bundles.md)")
    paths.add_argument("--once", action="store_true", help="run one scrape, print the exposition to stdout, exit 0")
    paths.add_argument("--doctor", action="store_true", help="read the host (or --snapshot) once, explain every finding in plain words with the numbers, the evidence and the fix, exit 0 (1 when lanes itself failed)")
    paths.add_argument("--doctor.format", dest="doctor_format", default="text", choices=("text", "json"), help="the doctor's output: text for people, json for scripts (default text)")
    paths.add_argument("--check-config", dest="check_config", action="store_true", help="validate config and web config, print what would run, exit 0 or 2")
    paths.add_argument("--state.dir", dest="state_dir", metavar="DIR", help=f"where lanes keeps what must survive a restart (remembered members); default {state.DEFAULT_DIR} when writable (serving a live host), else none; '' for none")
    paths.add_argument("--sampler.interval", dest="sampler_interval", metavar="DURATION", help="peak-rate sampling interval (default 1s; 0 turns the sampler off)")
    logs = p.add_argument_group("logging")
    logs.add_argument("--log.level", dest="log_level", default="info", choices=("debug", "info", "warn", "error"))
    logs.add_argument("--log.format", dest="log_format", default="logfmt", choices=("logfmt", "json"))
    coll = p.add_argument_group("collectors", "Collectors of other platforms are ignored.")
    coll.add_argument("--collector.disable-defaults", dest="disable_defaults", action="store_true", help="start from no collectors")
    for name in registry.names():
        descs = sorted({c.description for c in registry.ALL if c.name == name and c.description})
        plats = sorted({pl for c in registry.ALL if c.name == name for pl in c.platforms})
        coll.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{'; '.join(descs)} [{', '.join(plats)}]",
        )
    # BooleanOptionalAction spells the negative --no-collector.NAME, as node_exporter does
    return p


# ------------------------------------------------------------------ logging

_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str):
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": {"WARNING": "warn"}.get(record.levelname, record.levelname.lower()),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                fields[k] = v
        if record.exc_info and record.levelno <= logging.DEBUG:
            fields["exc"] = self.formatException(record.exc_info)
        if self.fmt == "json":
            return json.dumps(fields, default=str)
        return " ".join(f"{k}={_logfmt(v)}" for k, v in fields.items())


def _logfmt(v) -> str:
    s = str(v)
    if s and all(c.isalnum() or c in "-._:/@+" for c in s):
        return s
    return json.dumps(s)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": logging.WARNING}.get(level, getattr(logging, level.upper(), logging.INFO)))


# ------------------------------------------------------------------ assembly


def collector_options() -> dict[str, dict[str, str]]:
    opts: dict[str, dict[str, str]] = {}
    for c in registry.ALL:
        opts.setdefault(c.name, {}).update(c.OPTIONS)
    return opts


def enabled_collectors(args, config: Config, platform: str) -> list[type]:
    chosen = []
    for cls in registry.for_platform(platform):
        on = cls.default_enabled and not args.disable_defaults
        file_opt = config.collectors.get(cls.name, {}).get("enabled")
        if file_opt is not None:
            on = file_opt
        flag = getattr(args, f"collector_{cls.name}", None)
        if flag is not None:  # flags win over the file
            on = flag
        if on:
            chosen.append(cls)
    return chosen


def load_settings(args) -> tuple[Config, WebConfig | None, str]:
    cfg_path = args.config
    if cfg_path is None and os.path.exists(DEFAULT_CONFIG) and not args.snapshot:
        cfg_path = DEFAULT_CONFIG
    config = load_config(cfg_path, collector_options()) if cfg_path else Config()
    web = load_web_config(args.web_config) if args.web_config else None
    if web is not None and web.warning():
        log.warning(web.warning())  # one line: what the web config asks and lanes does not do
    if args.sampler_interval is not None:
        from exporter.config import SAMPLER_RANGE, check_range, parse_duration

        try:
            config.sampler_interval = parse_duration(args.sampler_interval)
        except ValueError as e:
            raise UsageError(f"bad flags: --sampler.interval: {e}") from None
        why = check_range(config.sampler_interval, *SAMPLER_RANGE, zero_ok=True, shown=args.sampler_interval[:40])
        if why:
            raise UsageError(f"bad flags: --sampler.interval: {why}")
    platform = args.platform
    if platform is None and args.snapshot:
        try:
            platform = str(read_snapshot_meta(args.snapshot).get("platform", "linux"))
        except ValueError as e:
            raise UsageError(str(e)) from None
    return config, web, platform or detect_platform()


def apply_limits(config: Config) -> None:
    """The size caps of ``limits:`` (SPEC §10), where lanes reads and where values enter
    a family."""
    from exporter import host as host_mod
    from exporter import metrics

    for key, value in config.limits.items():
        if key == "label_value_bytes":
            metrics.LIMITS.label_value_bytes = value
        else:
            setattr(host_mod.LIMITS, key, value)


def make_host(args, config: Config, platform: str) -> Host:
    if args.snapshot:
        try:
            return SnapshotHost(args.snapshot, platform=platform)
        except ValueError as e:
            raise UsageError(str(e)) from None
    live = LiveHost(args.rootfs, args.procfs, args.sysfs, commands=config.commands, platform=platform, netlink=args.netlink)
    if args.record:
        scrub = None
        if args.record_scrub:
            from exporter.scrub import Scrubber

            node = _platform.node()
            scrub = Scrubber([node, node.split(".")[0]])
        return RecordingHost(live, _record_tmpdir(args.record), scrub)
    return live


def _record_tmpdir(target: str) -> str:
    """--record writes into a hidden sibling of DIR, renamed to DIR only when complete
    (SPEC §10: a bundle that could not be written whole is never left looking whole)."""
    import tempfile

    target = os.path.abspath(target)
    if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target) and not os.listdir(target)):
        raise UsageError(f"bad flags: --record: {target} exists and is not an empty directory")
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.partial-", dir=parent)  # mode 0700
    except OSError as e:
        raise RecordFailed(f"{parent}: {e.strerror or e}") from None


class RecordFailed(Exception):
    """--record could not write its bundle: exit 1 naming the file."""


def build(args, config: Config, platform: str, host: Host, sampler: Sampler | None) -> Scraper:
    instances = []
    timeouts = {}
    for cls in enabled_collectors(args, config, platform):
        opts = config.collectors.get(cls.name, {})
        ctx = Context(cls.name, opts, config, sampler)
        instances.append(cls(host, ctx))
        timeouts[cls.name] = opts.get("timeout", DEFAULT_TIMEOUT)
    scraper = Scraper(instances, timeouts, platform, sampler)
    if not (args.snapshot or args.record or args.once):
        from exporter.process import ProcessMetrics

        # SPEC §15, for the serving daemon: --once and --snapshot output stays a function
        # of the host (a recorded snapshot replays to what --once printed live)
        scraper.process = ProcessMetrics()
    return scraper


def make_sampler(config: Config, host: Host) -> Sampler | None:
    if config.sampler_interval <= 0:
        return None

    def readers(source: str):
        fn = SAMPLE_READERS.get((source, host.platform))
        return None if fn is None else (lambda keys: fn(host, keys))

    return Sampler(config.sampler_interval, readers)


def state_dir(args, serving_live_host: bool) -> tuple[str | None, str]:
    """The state directory and a sentence on why (SPEC §3): the flag's directory (bad flag:
    exit 2), else the default when it is usable and lanes serves a live host, else none."""
    if args.state_dir is not None:
        if args.state_dir == "":
            return None, "none (--state.dir '')"
        why = state.usable_dir(args.state_dir)
        if why:
            raise UsageError(f"bad flags: --state.dir {args.state_dir}: {why}")
        return args.state_dir, "--state.dir"
    if not serving_live_host:
        return None, "none (not serving a live host; --state.dir DIR to keep one)"
    why = state.usable_dir(state.DEFAULT_DIR)
    if why:
        return None, f"none ({state.DEFAULT_DIR} {why}: vanished members are forgotten at restart; --state.dir DIR to keep them)"
    return state.DEFAULT_DIR, "default"


def open_state(args, host: Host, platform: str) -> state.MemberStore:
    serving_live = not (args.snapshot or args.once or args.record or args.check_config)
    directory, why = state_dir(args, serving_live)
    hostname = getattr(host, "hostname", "") or _platform.node()
    store = state.install(state.MemberStore(directory, hostname=hostname, platform=platform))
    log.info("state", extra={"dir": directory or "none", "why": why, "remembered_members": store.count()})
    return store


def missing_declared_members(config: Config, host: Host, timeout: float = 10.0) -> list[tuple[str, str]] | None:
    """(group, member) of declared groups whose link does not exist on the host; None when
    the link table could not be read within ``timeout`` (a thread: never a hang)."""
    if not config.groups:
        return []
    box: list = []

    def read():
        try:
            box.append(registry.links(host, Context("groups", {}, config)))
        except Exception as e:  # the collectors report their own failures; this is advice
            box.append(e)

    t = threading.Thread(target=read, name="check-declared", daemon=True)
    t.start()
    t.join(timeout)
    if not box or isinstance(box[0], Exception):
        return None
    links = box[0]
    return [(g, m) for g, spec in sorted(config.groups.items()) for m in spec.members if m not in links]


def check_config(args, config: Config, web: WebConfig | None, platform: str) -> int:
    from exporter.http import parse_listen, tls_context

    for addr in args.listen or [DEFAULT_LISTEN]:
        try:
            parse_listen(addr)
        except ValueError as e:
            raise UsageError(f"bad flags: --web.listen-address: {e}") from None
    if web is not None:
        try:
            tls_context(web)
        except (OSError, ValueError, ssl_error()) as e:
            raise UsageError(f"{web.path}: tls_server_config: {e}") from None
    names = [c.name for c in enabled_collectors(args, config, platform)]
    print(f"config: {config.path or '(none, defaults)'}")
    print(f"web config: {web.path if web else '(none: plain HTTP, no auth)'}")
    print(f"platform: {platform}")
    print(f"collectors: {', '.join(names) or '(none)'}")
    print(f"declared groups: {', '.join(sorted(config.groups)) or '(none)'}")
    if config.groups:
        try:
            host = SnapshotHost(args.snapshot, platform=platform) if args.snapshot else LiveHost(
                args.rootfs, args.procfs, args.sysfs, commands=config.commands, platform=platform, netlink=args.netlink
            )
        except ValueError:
            host = None
        if host is not None:
            try:
                missing = missing_declared_members(config, host)
                if missing is None:
                    print("warning: the link table could not be read: declared members not checked")
                for group, member in missing or ():
                    print(f"warning: declared group {group}: member {member} does not exist on this host")
            finally:
                host.close()
    directory, why = state_dir(args, not (args.snapshot or args.once or args.record))
    print(f"state dir: {directory or why}" + (f" ({why})" if directory and why != "--state.dir" else ""))
    sampler = f"every {config.sampler_interval:g}s" if config.sampler_interval > 0 else "off"
    print(f"sampler: {sampler}")
    print(f"limits: {', '.join(f'{k}={v}' for k, v in config.limits.items())}")
    print(f"listen: {', '.join(args.listen or [DEFAULT_LISTEN])} path {args.telemetry_path}")
    return 0


def ssl_error():
    import ssl

    return ssl.SSLError


def scrape_once(scraper: Scraper, sampler: Sampler | None) -> list:
    if sampler is not None:
        # The peaks need two samples inside one window: a first scrape tells the
        # sampler which members to follow, then two samples a moment apart.
        scraper.scrape()
        sampler.sample_once()
        time.sleep(min(sampler.interval, 0.2))
        sampler.sample_once()
    return scraper.scrape()


def record(args, scraper: Scraper, host: RecordingHost, platform: str, sampler: Sampler | None = None) -> int:
    """Scrape once through the recording host into its temporary directory, then rename
    it to DIR.  Any write that failed (a full disk) removes the temporary directory and
    exits 1 naming the file."""
    import shutil

    import yaml

    target = os.path.abspath(args.record)
    done = False
    try:
        families = scrape_once(scraper, sampler)
        meta = {
            "platform": platform,
            "captured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "lanes_version": __version__,
            "hostname": host.scrub(_platform.node()),
            "notes": "recorded with lanes_exporter --record" + (" --record.scrub (hostnames, IQNs, NQNs, MACs, addresses, WWNs/WWIDs, UUIDs, serials replaced)" if args.record_scrub else ""),
            "collectors": [r.name for r in scraper.runners],
        }
        if host.write_errors:
            raise RecordFailed(host.write_errors[0])
        try:
            host._write(os.path.join(host.dir, "snapshot.yml"), yaml.safe_dump(meta, sort_keys=False))
        except OSError:
            raise RecordFailed(host.write_errors[-1]) from None
        try:
            os.rename(host.dir, target)  # replaces an empty directory (rename(2))
        except OSError as e:
            raise RecordFailed(f"{target}: {e.strerror or e}") from None
        done = True
    except RecordFailed as e:
        print(f"{PROG}: --record failed, nothing written to {target}: {e}", file=sys.stderr)
        return 1
    finally:
        if not done:
            shutil.rmtree(host.dir, ignore_errors=True)
    failed = [r.name for r in scraper.runners if not r.status.success]
    print(f"recorded a {platform} snapshot into {target} ({sum(len(f.lvs) for f in families)} series)")
    if failed:
        print(f"collectors that failed (their sources are recorded as they were): {', '.join(failed)}")
    return 0


def serve(args, scraper: Scraper, web: WebConfig | None, sampler: Sampler | None, host: Host, platform: str) -> int:
    from exporter.http import App, make_server, tls_context

    try:
        tls = tls_context(web) if web else None
    except (OSError, ValueError) as e:
        raise UsageError(f"{web.path}: tls_server_config: {e}") from None
    app = App(scraper, args.telemetry_path, web)
    servers = []
    for addr in args.listen or [DEFAULT_LISTEN]:
        try:
            servers.append(make_server(addr, app, tls))
        except ValueError as e:
            raise UsageError(f"bad flags: --web.listen-address: {e}") from None
        except OSError as e:
            log.error("cannot listen", extra={"address": addr, "err": e.strerror or str(e)})
            return 1
    stop = threading.Event()
    reload_wanted = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGHUP, lambda signum, frame: reload_wanted.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True) for s in servers]
    for t in threads:
        t.start()
    if sampler is not None:
        sampler.start()
    for s in servers:
        h, p = s.server_address[:2]
        log.info("listening", extra={"address": f"[{h}]:{p}" if ":" in h else f"{h}:{p}", "tls": tls is not None, "collectors": ",".join(r.name for r in scraper.runners)})
    while not stop.wait(0.2):
        if reload_wanted.is_set():
            reload_wanted.clear()
            sampler = reload(args, app, sampler, host, platform, tls is not None)
    log.info("shutting down: finishing in-flight requests")
    for s in servers:
        s.shutdown()  # stop accepting at once, close connections waiting for a request
    # SPEC §10: exit within 5 s of SIGTERM (the unit's TimeoutStopSec then SIGKILLs)
    if not app.wait_idle(DRAIN_SECONDS):
        log.warning("in-flight requests still running; exiting anyway", extra={"after_seconds": DRAIN_SECONDS})
    for s in servers:
        s.server_close()
    if sampler is not None:
        sampler.stop()
    app.scraper.close()
    return 0


def reload(args, app, sampler: Sampler | None, host: Host, platform: str, had_tls: bool) -> Sampler | None:
    """SIGHUP: re-read the config and web config, and forget the members that vanished (a
    path removed on purpose stops counting as down; SPEC §12).  A bad new config keeps the
    running one and logs one line (and forgets nothing); TLS settings need a restart (the
    listening sockets stay)."""
    try:
        config, web, _ = load_settings(args)
        if (web is not None and web.tls is not None) != had_tls:
            raise UsageError("turning TLS on or off needs a restart")
        new_host = host if isinstance(host, SnapshotHost) else LiveHost(args.rootfs, args.procfs, args.sysfs, commands=config.commands, platform=platform, netlink=args.netlink)
        # the new collectors start from an empty memory: what is there is seen again now
        state.current().forget()
        new_sampler = sampler
        if sampler is None or config.sampler_interval != sampler.interval:
            new_sampler = make_sampler(config, new_host)
        scraper = build(args, config, platform, new_host, new_sampler)
    except (UsageError, ConfigError) as e:
        log.error("reload failed; keeping the running config", extra={"err": str(e)})
        return sampler
    old = app.scraper
    app.scraper = scraper
    app.set_web(web)
    old.close()
    if new_sampler is not sampler:
        if sampler is not None:
            sampler.stop()
        if new_sampler is not None:
            new_sampler.start()
    log.info("config reloaded", extra={"collectors": ",".join(r.name for r in scraper.runners), "groups": ",".join(sorted(config.groups))})
    return new_sampler


def run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print(f"{PROG} {__version__} (python {sys.version.split()[0]})")
        return 0
    setup_logging(args.log_level, args.log_format)
    # A scrape of a large host allocates hundreds of thousands of short-lived objects next
    # to long-lived caches: collect the young generation less often (about 3.0 s -> 2.5 s per
    # scrape of bench/README.md's large storage host).
    gc.set_threshold(50_000, 20, 20)
    from exporter.process import tune_malloc

    tune_malloc()  # before any thread starts (exporter.process)
    if args.snapshot and args.record:
        raise UsageError("bad flags: --snapshot and --record exclude each other")
    if args.record_scrub and not args.record:
        raise UsageError("bad flags: --record.scrub needs --record DIR")
    config, web, platform = load_settings(args)
    apply_limits(config)
    if args.check_config:
        return check_config(args, config, web, platform)
    host = make_host(args, config, platform)
    try:
        if args.record:
            # recorded exactly like --once runs, sampler included: every command and file
            # the sampler reads (illumos kstat reads behind the peak series) is in the bundle
            sampler = make_sampler(config, host)
            scraper = build(args, config, platform, host, sampler)
            return record(args, scraper, host, platform, sampler)
        if args.doctor:
            from exporter.doctor import doctor

            return doctor(args, build(args, config, platform, host, None), platform)
        if args.once:
            open_state(args, host, platform)
            sampler = make_sampler(config, host)
            scraper = build(args, config, platform, host, sampler)
            families = scrape_once(scraper, sampler)
            sys.stdout.buffer.write(render(families, scraper.series))
            sys.stdout.flush()
            return 0
        open_state(args, host, platform)
        sampler = make_sampler(config, host)
        scraper = build(args, config, platform, host, sampler)
        return serve(args, scraper, web, sampler, host, platform)
    finally:
        host.close()


#: SMF_EXIT_ERR_CONFIG (illumos smf_method(7)): svc.startd sets SMF_FMRI in the environment
#: of every method it runs; under SMF a bad config exits 96 so the service goes to
#: maintenance instead of being restarted in a loop (deploy/smf/lanes.xml).
SMF_EXIT_ERR_CONFIG = 96


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except (UsageError, ConfigError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return SMF_EXIT_ERR_CONFIG if os.environ.get("SMF_FMRI") else 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the last line of defence: one line, never a traceback
        logging.getLogger("lanes").debug("unexpected error", exc_info=True)
        print(f"{PROG}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
