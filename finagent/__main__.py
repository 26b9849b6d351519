"""``python -m finagent`` runs the CLI."""

from finagent.cli import main

# Guarded: a worker process started by "spawn" (backtest --jobs) imports this module as
# __mp_main__ and must not run the CLI again.
if __name__ == "__main__":
    main()
