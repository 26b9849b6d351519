"""The script Streamlit runs: one call, so the code lives in an importable, typed module."""

from finagent.dashboard.pages import main

main()
