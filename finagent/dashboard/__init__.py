"""The Streamlit dashboard (``finagent dashboard``; the ``dashboard`` extra installs Streamlit).

``server`` starts Streamlit on ``streamlit_app.py``; ``pages`` draws each page from the read
model in :mod:`finagent.app.status` and :mod:`finagent.app.views`, and its buttons call the
same control path as the CLI (:mod:`finagent.app.control`, :func:`finagent.app.database.requeue`).
Nothing in the core package imports this one.
"""

__all__: list[str] = []
