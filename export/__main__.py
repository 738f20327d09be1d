"""`python -m export ...` (the shell's `export` builtin hides a bare `export` command)."""

from export.cli import main

raise SystemExit(main())
