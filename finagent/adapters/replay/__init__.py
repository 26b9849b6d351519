"""The recorded market-data store (SQLite) and the replay feed that reads it."""
