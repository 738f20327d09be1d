"""`python -m export ARGS` = `distill export ARGS`: the same parser and the same one-line errors (the shell's
`export` builtin hides a bare `export` command)."""

import sys

from distill.cli import main

raise SystemExit(main(["export", *sys.argv[1:]]))
