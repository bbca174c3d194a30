"""The project's class taxonomy (issue 11): classes with a written guideline and example crops,
aliases, and a mapping from each model's class names to the project's classes.

* :mod:`server.taxonomy.model`: the taxonomy in memory and how names resolve (pure).
* ``migrations/``: migration ``0006_taxonomy``.
* :mod:`server.taxonomy.queries`: reading and changing it on a caller's connection, and the model's
  pre-labels under project class names (what the review queue, tracks and adjudication use).
* :mod:`server.taxonomy.crops`: example crops cut from a frame's stored JPEG.
* :mod:`server.taxonomy.document`: taxonomy files (TOML or YAML): read, validated with the
  line of a bad key, and written.
* :mod:`server.taxonomy.relabel`: renaming labels stored before the taxonomy (``classes apply``).
* The JSON routes (reading for everyone, changes for admins) are :mod:`server.api.taxonomy`.

With no class defined, the taxonomy is *empty* and every name passes through unchanged: the
collector behaves as it did before taxonomies existed.
"""
