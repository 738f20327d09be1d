"""The `distill` sub-commands, one module per command group; `distill.cli` assembles them."""
