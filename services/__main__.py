"""`python -m services` is the `marac` command (services/registry.py)."""

import sys

from services.registry import main

sys.exit(main())
