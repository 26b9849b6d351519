"""Concrete implementations of the ports, one package per technology.

``sqlite/`` (job store, trading state), ``redis/`` (Streams queue, transport, leader lock),
``alpaca/`` (broker, market data, news over one HTTP client), ``sim/`` (simulated market and
paper broker); ``clocks`` and ``exchange_calendar`` hold the system clock and the calendar.
"""
