"""`python -m devstack`: the whole system on embedded defaults, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from devstack import REPO, Ports, Stack
from warehouse.generate import ReplicaSpec, generate

SAMPLE_MAX_AGE_S = 7 * 24 * 3600  # older samples are made again, up to the current date


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=REPO / ".local")
    parser.add_argument("--orgs", type=int, default=8)
    parser.add_argument("--chats-per-org", type=int, default=40_000)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument("--s3-port", type=int, default=9100)
    args = parser.parse_args()

    home = args.home.resolve()
    replica = home / "replica"
    catalog = replica / "replica.duckdb"
    if not catalog.exists() or time.time() - catalog.stat().st_mtime > SAMPLE_MAX_AGE_S:
        # The sample's data ends yesterday: "last month" exports find last month's rows.
        print(f"generating a sample replica up to today in {replica} ...", flush=True)
        generate(replica, ReplicaSpec(orgs=args.orgs, chats_per_org=args.chats_per_org))
    stack = Stack(
        home=home,
        replica=replica,
        ports=Ports(s3=args.s3_port, dagster=args.dagster_port, api=args.api_port),
    )

    def stop(*_: object) -> None:
        print("\nstopping ...", flush=True)
        stack.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting the S3 server, Dagster and the API ...", flush=True)
        stack.start()
    except Exception as error:
        stack.stop()
        raise SystemExit(f"could not start: {error}") from error
    _print_welcome(stack)
    while True:
        time.sleep(1)
        try:
            stack.check_alive()
        except RuntimeError as error:
            print(f"\n{error}", flush=True)
            stop()


def _print_welcome(stack: Stack) -> None:
    # The API process has its own settings; the tokens here use the same local default.
    from api.tokens import mint

    admin = mint(
        org_id="org_001",
        role="admin",
        sub="local-admin",
        email="admin@org-001.example.com",
        name="Local Admin",
    )
    user = mint(org_id="org_001", role="user", sub="local-user", name="Local User")
    page = f"{stack.api_url}/crm/reports"
    print(
        f"""
ready.
  admin page     {page}#token={admin}
  as a 'user'    {page}#token={user}
  API docs       {stack.api_url}/docs  (and /redoc; user guide in docs/)
  Dagster UI     {stack.dagster_url}
  S3 server      {stack.s3_url} (bucket {stack.bucket})
  logs           {stack.home / "logs"}

  curl -H "Authorization: Bearer {admin}" {stack.api_url}/api/wp-crm/reports/org_001

Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    main()
