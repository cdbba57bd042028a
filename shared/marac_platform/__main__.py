"""`python -m marac_platform` is the `marac` command."""

import sys

from marac_platform.cli import main

sys.exit(main())
