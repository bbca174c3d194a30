"""Schema migrations owned by the importers (see :mod:`server.db.migrations`)."""
