"""``--doctor``: read the host (or a snapshot) once and explain each finding (SPEC §13).

The findings are those of ``/metrics`` (exporter.findings judges the families of one
scrape); the doctor adds the words: the numbers, the evidence (files and commands read)
and the fix for this platform.  Exit 0 whatever it finds; 1 only when lanes itself failed.
"""

from __future__ import annotations

import sys

from exporter import findings


def doctor(args, scraper, platform: str) -> int:
    try:
        families = scraper.scrape()
    finally:
        scraper.close()
    failed = {r.name: r.status.error for r in scraper.runners if not r.status.success}
    found = findings.evaluate(families, platform)
    source = f"snapshot {args.snapshot}" if args.snapshot else f"this host ({platform})"
    render = findings.render_json if args.doctor_format == "json" else findings.render_text
    sys.stdout.write(render(found, failed, source))
    sys.stdout.flush()
    return 0
