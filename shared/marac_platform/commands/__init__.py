"""Subcommands of the `marac` CLI; each module exposes `register(subparsers)`."""
