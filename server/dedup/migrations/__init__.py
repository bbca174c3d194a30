"""Schema migrations owned by duplicate detection (see :mod:`server.db.migrations`)."""
