"""The collector's JSON HTTP API for reviewers: ``app`` (the Starlette application) and ``serve``
(running it with uvicorn in a thread of ``edgelabel-collector serve``)."""
