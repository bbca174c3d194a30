"""The collector's JSON HTTP API for reviewers: ``app`` (the routes and error answers), ``consistency``
and ``taxonomy`` (their routes), ``admin`` (the admin check) and ``options`` (``serve``'s flags).
Handlers run no SQL (a test checks it): they call the review queue, :mod:`server.frames.state`'s
callers and the query modules. :mod:`server.web.serve` runs it with uvicorn inside ``serve``."""
