"""Concrete implementations of the ports (SQLite, Redis, simulated market, HTTP)."""
