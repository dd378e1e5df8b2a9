"""`python -m reports_pipeline.verify_audit [ORGANISATION ...]`: recompute audit chains.

Checks the named organisations' chains (every organisation's by default) in the job table
at `REPORTS_DATABASE_URL`, prints one line each, and exits 1 if any link is broken.
"""

from __future__ import annotations

import argparse
import sys

from reports_pipeline import audit
from reports_pipeline.job_table import make_engine
from reports_pipeline.settings import ServiceSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("organisations", nargs="*", metavar="ORGANISATION")
    args = parser.parse_args(argv)
    engine = make_engine(ServiceSettings().database_url)
    broken = 0
    for organisation in args.organisations or audit.organisations(engine):
        verdict = audit.verify(engine, organisation)
        if verdict.intact:
            print(f"{organisation}: intact, {verdict.events} events")
            continue
        broken += 1
        where = f" at event {verdict.broken_at}" if verdict.broken_at is not None else ""
        print(f"{organisation}: BROKEN{where}: {verdict.reason}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
