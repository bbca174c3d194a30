"""Label consistency across reviewers (issue 11): overlap reviews, agreement, adjudication, gold frames.

* :mod:`server.consistency.agreement`: pure box-matching and agreement figures (numpy/scipy).
* :mod:`server.consistency.schema`: migration ``0005_consistency``.
* :mod:`server.consistency.store`: what the tables mean, the queue hooks and the
  admin operations (adjudication, gold), all on a caller's connection inside its transaction.
* :mod:`server.consistency.api`: the JSON routes (admins only).
"""
