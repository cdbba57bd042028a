"""The referral service's own operator command, `marac keys retention-sweep`: erase the cases
closed longer ago than their area's retention_days (services/referral/admin.py)."""

from __future__ import annotations

import argparse

from marac_platform.runtime import Runtime


def register_retention_sweep(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = actions.add_parser(
        "retention-sweep", help="erase closed cases past their area's retention_days")
    sweep.add_argument("--dry-run", action="store_true", help="list what would be erased")
    sweep.set_defaults(func=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    # Imported when it runs: the declaration (wiring.py) names this module, and admin.py
    # carries the API's views.
    from services.referral.admin import retention_sweep
    from services.referral.wiring import SERVICE

    runtime = Runtime(SERVICE)
    try:
        report = retention_sweep(runtime, dry_run=args.dry_run)
    finally:
        runtime.db.dispose()
    verb = "would erase" if report.dry_run else "erased"
    print(f"retention sweep{' (dry run)' if report.dry_run else ''}: {verb} {report.total} case(s)")
    for area_id in sorted(runtime.areas.ids() | set(report.by_area)):
        ids = report.by_area.get(area_id, [])
        retention = runtime.areas.by_id[area_id].retention_days if area_id in runtime.areas.by_id else "?"
        print(f"  {area_id} (retention {retention} days): {len(ids)}{': ' if ids else ''}{', '.join(ids)}")
    for case_id, error in sorted(report.failed.items()):
        print(f"  failed {case_id}: {error}")
    return 1 if report.failed else 0
