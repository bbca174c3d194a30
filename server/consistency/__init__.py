"""Label consistency across reviewers (issue 11): overlap reviews, agreement, adjudication, gold frames.

* :mod:`server.consistency.agreement`: pure box-matching and agreement figures (numpy/scipy).
* ``migrations/``: migration ``0005_consistency``.
* :mod:`server.consistency.reviews`: what the tables mean, the queue hooks and the
  admin operations (adjudication, gold), all on a caller's connection inside its transaction.
* :mod:`server.consistency.summary`: the agreement and gold figures.
* The JSON routes (admins only) are :mod:`server.api.consistency`.
"""
