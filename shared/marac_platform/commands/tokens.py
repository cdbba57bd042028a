"""`marac token mint`: development bearer tokens signed with the local dev key."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from marac_platform.security.roles import Role, is_area_id
from marac_platform.security.tokens import DEV_PRIVATE_KEY_FILE, ensure_dev_keypair, mint_token
from marac_platform.settings import repo_root

# The defaults match what the services verify against (MARAC_JWT_AUDIENCE / _ISSUER).
DEFAULT_AUDIENCE = "marac"
DEFAULT_ISSUER = "marac-dev"
MAX_TTL_S = 7 * 24 * 3600


def data_dir() -> Path:
    """`MARAC_DATA_DIR`, else `<repo>/.data`: where the services look for the dev key."""
    return Path(os.environ.get("MARAC_DATA_DIR") or repo_root() / ".data")


def dev_keys_dir() -> Path:
    """Where the development key pair lives; the embedded default verifies against it."""
    return data_dir() / "keys"


def _area(value: str) -> str:
    if not is_area_id(value):
        raise argparse.ArgumentTypeError("area ids are letters, digits, '.', '_', '-'")
    return value


def _ttl(value: str) -> int:
    try:
        ttl = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("ttl must be a whole number of seconds") from None
    if not 0 < ttl <= MAX_TTL_S:
        raise argparse.ArgumentTypeError(f"ttl must be between 1 and {MAX_TTL_S} seconds")
    return ttl


def register(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="development bearer tokens")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION")
    actions.required = True
    mint = actions.add_parser("mint", help="print a token signed with the local development key")
    mint.add_argument("--role", required=True, choices=[role.value for role in Role])
    mint.add_argument(
        "--area",
        dest="areas",
        action="append",
        required=True,
        type=_area,
        help="area id; repeat for several",
    )
    mint.add_argument("--agency", default="idva", help="the agency claim (default: idva)")
    mint.add_argument("--subject", default=None, help="the subject claim (default: dev-<role>)")
    mint.add_argument("--ttl", type=_ttl, default=3600, help="lifetime in seconds")
    mint.add_argument(
        "--audience", default=os.environ.get("MARAC_JWT_AUDIENCE") or DEFAULT_AUDIENCE
    )
    mint.add_argument("--issuer", default=os.environ.get("MARAC_JWT_ISSUER") or DEFAULT_ISSUER)
    mint.set_defaults(func=run_mint)


def run_mint(args: argparse.Namespace) -> int:
    existed = (dev_keys_dir() / DEV_PRIVATE_KEY_FILE).exists()
    private_path, _ = ensure_dev_keypair(dev_keys_dir())
    # The services verify with the key pair of their own data folder: a token signed with a
    # new one is refused (401 bad_signature) by a platform started with another MARAC_DATA_DIR.
    if not existed:
        print(f"marac token mint: made a new development key pair in {dev_keys_dir()}; only services "
              f"started with MARAC_DATA_DIR={data_dir()} accept its tokens", file=sys.stderr)
    if os.environ.get("MARAC_JWKS_URL") or os.environ.get("MARAC_JWT_PUBLIC_KEY_FILE"):
        print("marac token mint: MARAC_JWKS_URL or MARAC_JWT_PUBLIC_KEY_FILE is set, so services "
              "started with it refuse development tokens", file=sys.stderr)
    token = mint_token(
        private_path.read_bytes(),
        subject=args.subject or f"dev-{args.role}",
        agency=args.agency,
        role=args.role,
        areas=args.areas,
        audience=args.audience,
        issuer=args.issuer,
        ttl_s=args.ttl,
    )
    print(token)
    return 0
