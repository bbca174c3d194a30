"""Reviewer accounts and login sessions for the collector's web UI (issue 8).

``passwords`` hashes with scrypt, ``accounts`` keeps accounts and sessions in the collector's
database, ``middleware`` puts every route but the login page behind a session and a CSRF token,
``pages`` serves the login form and logout.
"""
