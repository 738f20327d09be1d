"""`python -m distill` = the `distill` command."""

import sys

from distill.cli import main

sys.exit(main())
