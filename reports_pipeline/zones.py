"""Time zone names: the canonical IANA names a person picks from, and legacy aliases
(`Asia/Calcutta`, `Europe/Kiev`, `US/Eastern`) read as the zone they name today.

Both come from the tzdata package's own tables: `zone.tab` names each country's zones
(the names tzdb keeps), and the links of `tzdata.zi` say which zone an old name is now.
A link to a zone `zone.tab` does not list (`UTC` is a link to `Etc/UTC`) is left alone.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

DATA = files("tzdata") / "zoneinfo"


@cache
def canonical_zones() -> tuple[str, ...]:
    """UTC, then every zone of `zone.tab`, sorted."""
    rows = (DATA / "zone.tab").read_text(encoding="utf-8").splitlines()
    names = {row.split("\t")[2] for row in rows if row and not row.startswith("#")}
    return ("UTC", *sorted(names))


@cache
def _aliases() -> dict[str, str]:
    """Old name -> the canonical zone its links lead to."""
    links = {}
    for row in (DATA / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        if row.startswith("L "):
            _, target, name = row.split()
            links[name] = target
    known = set(canonical_zones())
    aliases = {}
    for name, target in links.items():
        seen = {name}
        while target not in known and target in links and target not in seen:
            seen.add(target)
            target = links[target]
        if target in known and name not in known:
            aliases[name] = target
    return aliases


def canonical(name: str) -> str:
    """`name` as the canonical zone it means (itself when it is one, or not an alias)."""
    return _aliases().get(name, name)
