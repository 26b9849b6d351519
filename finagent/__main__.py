"""``python -m finagent`` runs the CLI."""

from finagent.cli import main

main()
