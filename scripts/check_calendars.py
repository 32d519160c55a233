#!/usr/bin/env python3
"""Development-time check of ledger/data/calendars against an independent source.

Compares, for each jurisdiction and year, the latest version of our data with the `holidays` package
(PyPI, `pip install holidays`): the non-working weekdays, the weekend days declared working, and the
holiday dates. Every disagreement must be listed in KNOWN with its resolution (docs/calendars.md);
an unlisted disagreement makes the script exit 1. The runtime never needs Python; CI does not run this.

Usage: python3 scripts/check_calendars.py [--verbose] [--version N]
  --version N   check each year at its highest version <= N instead of the latest
"""

import datetime as dt
import pathlib
import re
import sys

import holidays

ROOT = pathlib.Path(__file__).resolve().parent.parent / "ledger" / "data" / "calendars"
YEARS = range(2024, 2028)

# (jurisdiction, date, what differs) -> resolution, mirrored in docs/calendars.md.
# Empty at holidays 0.109 for the latest versions. With --version 1, KZ 2026 reports 2026-08-30 and
# 2026-08-31 "only in ours": expected, version 1 predates the new Constitution that the package follows.
KNOWN = {
    ("KZ", "2026-08-31", "non-working weekday only in ours"): "v1 only: superseded by v2 (new Constitution)",
    ("KZ", "2026-08-30", "holiday only in ours"): "v1 only: superseded by v2 (new Constitution)",
}


def parse(path):
    """Returns {version: {date: kind}} for one data file (same rules as ledger's parser)."""
    versions, current = {}, None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("calendar", "source"):
            continue
        if keyword == "version":
            number = int(rest.split()[0])
            current = dict(versions[max(versions)]) if versions else {}
            versions[number] = current
            continue
        date = dt.date.fromisoformat(rest.split()[0])
        if keyword == "remove":
            del current[date]
        else:
            current[date] = keyword
    return versions


def ours(jurisdiction, year, at_version):
    versions = parse(ROOT / jurisdiction / f"{year}.cal")
    eligible = [v for v in versions if at_version is None or v <= at_version]
    if not eligible:
        return None
    days = versions[max(eligible)]
    off = {d for d, kind in days.items() if kind != "working-day" and d.weekday() < 5}
    worked = {d for d, kind in days.items() if kind == "working-day"}
    named = {d for d, kind in days.items() if kind in ("holiday", "religious-holiday")}
    return off, worked, named, max(eligible)


def theirs(jurisdiction, year):
    calendar = holidays.country_holidays(jurisdiction, years=year, language="en_US")
    off = {d for d in calendar if d.weekday() < 5}
    worked = set()
    named = set()
    for d, name in calendar.items():
        match = re.search(r"substituted from (\d\d)/(\d\d)/(\d{4})", name)
        if match:
            month, day, y = map(int, match.groups())
            worked.add(dt.date(y, month, day))
        elif "(observed" not in name and "Additional" not in name:
            named.add(d)
    # A substituted-from day is worked only if it would otherwise be a day off on a weekend.
    worked = {d for d in worked if d.weekday() >= 5}
    return off, worked, named


def compare(jurisdiction, year, verbose, at_version):
    mine = ours(jurisdiction, year, at_version)
    if mine is None:
        print(f"{jurisdiction} {year}: not published at version {at_version}")
        return []
    our_off, our_worked, our_named, version = mine
    their_off, their_worked, their_named = theirs(jurisdiction, year)
    findings = []
    for label, a, b in (
        ("non-working weekday", our_off, their_off),
        ("working weekend day", our_worked, their_worked),
        ("holiday", our_named, their_named),
    ):
        findings += [(d, f"{label} only in ours") for d in sorted(a - b)]
        findings += [(d, f"{label} only in holidays package") for d in sorted(b - a)]
    if verbose:
        print(f"{jurisdiction} {year} v{version}: {len(our_off)} non-working weekdays, "
              f"{len(our_worked)} working weekend days")
    return [(jurisdiction, d.isoformat(), what) for d, what in findings]


def main():
    verbose = "--verbose" in sys.argv
    at_version = int(sys.argv[sys.argv.index("--version") + 1]) if "--version" in sys.argv else None
    print(f"holidays package {holidays.__version__}")
    unknown = 0
    for jurisdiction in ("KZ", "KG"):
        for year in YEARS:
            for key in compare(jurisdiction, year, verbose, at_version):
                resolution = KNOWN.get(key)
                status = f"known: {resolution}" if resolution else "UNRESOLVED"
                unknown += resolution is None
                print(f"  {key[0]} {key[1]} {key[2]} -- {status}")
    print(f"{unknown} unresolved disagreements")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
