"""`marac keys`: case-key operations: retention sweep, area key rotation, re-wrapping, status.

Rotating an area key: `marac keys rotate-area AREA` adds a new current key to the area key
file (the retired one stays); restart or wait for the services (they re-read the file when
they meet a key they do not hold); `marac keys rewrap --area AREA` re-wraps every case key of
the area under the new key; once `marac keys status --area AREA` shows no case key under the
retired kid, remove it from the file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from marac_platform.areas import load_areas
from marac_platform.db import Database
from marac_platform.keystore import KeyStore, area_keys_path, keystore_url, load_keyring, rotate_area_key
from marac_platform.security import crypto
from marac_platform.security.roles import is_area_id
from marac_platform.service_spec import Command
from marac_platform.settings import Settings, load_settings

# Services add their own key operations under `marac keys` (marac_platform.cli): the retention
# sweep is the referral service's, added by its declaration.
GROUP = "keys"


def _area(value: str) -> str:
    if not is_area_id(value):
        raise argparse.ArgumentTypeError("area ids are letters, digits, '.', '_', '-'")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             contributed: Sequence[Command] = ()) -> None:
    parser = subparsers.add_parser(
        "keys", help="case keys: retention sweep, area key rotation",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    actions.required = True

    for command in contributed:  # first: the services' own (referral: retention-sweep)
        command.register(actions)

    rotate = actions.add_parser("rotate-area", help="add a new current key for an area")
    rotate.add_argument("area", type=_area)
    rotate.add_argument("--print", dest="print_only", action="store_true",
                        help="print a new key entry instead of writing the file (for a mounted secret)")
    rotate.set_defaults(func=run_rotate)

    rewrap = actions.add_parser("rewrap", help="re-wrap an area's case keys under its current key")
    rewrap.add_argument("--area", required=True, type=_area)
    rewrap.set_defaults(func=run_rewrap)

    status = actions.add_parser("status", help="live case keys per area key id")
    status.add_argument("--area", type=_area)
    status.set_defaults(func=run_status)


def _known_area(area_id: str) -> frozenset[str]:
    from marac_platform.cli import CommandError

    areas = load_areas(load_settings("referral").areas_file).ids()
    if area_id not in areas:
        raise CommandError(f"unknown area {area_id!r}; this deployment serves {', '.join(sorted(areas))}")
    return areas


def fresh_store(settings: Settings, areas: frozenset[str]) -> KeyStore:
    """The key store with the area key file as it is now (not a long-lived process's copy)."""
    return KeyStore(Database(keystore_url(settings)), load_keyring(settings, areas))


def run_rotate(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError

    _known_area(args.area)
    settings = load_settings("referral")
    if args.print_only:
        print(json.dumps({"area": args.area, "add_key": {"kid": "<new kid>",
                                                           "key": crypto.generate_area_key()},
                          "then": "set this kid as the area's current key"}, indent=2))
        return 0
    path = area_keys_path(settings)
    try:
        kid = rotate_area_key(path, args.area)
    except (crypto.KeyRingError, OSError) as exc:
        raise CommandError(f"{exc}; use --print for a key to add by hand") from None
    print(f"{args.area}: new current key {kid} in {path}; now run `marac keys rewrap --area {args.area}`")
    return 0


def run_rewrap(args: argparse.Namespace) -> int:
    from marac_platform.cli import CommandError

    areas = _known_area(args.area)
    settings = load_settings("referral")
    store = fresh_store(settings, areas)
    try:
        count = store.rewrap_area(args.area)
    except crypto.KeyUnavailable as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.db.dispose()
    print(f"{args.area}: re-wrapped {count} case key(s) under {store.keyring.current_kid(args.area)}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = load_settings("referral")
    areas = load_areas(settings.areas_file).ids()
    store = fresh_store(settings, areas)
    try:
        counts = store.kids_in_use(args.area)
    finally:
        store.db.dispose()
    for area_id in sorted(areas if args.area is None else {args.area}):
        current = store.keyring.current_kid(area_id) if area_id in store.keyring.areas else "-"
        used = {kid: n for (area, kid), n in counts.items() if area == area_id}
        held = sorted(store.keyring.kids(area_id))
        summary = ", ".join(f"{kid}: {used.get(kid, 0)}" for kid in sorted(set(held) | set(used)))
        print(f"{area_id}: current {current}; case keys by kid: {summary or 'none'}")
        for kid in sorted(set(used) - set(held)):
            print(f"  WARNING {area_id}/{kid} wraps {used[kid]} case key(s) but is not in the key file")
    return 0
