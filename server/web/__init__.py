"""The reviewers' web UI: server-rendered pages (Jinja2, autoescaped) and plain JavaScript.

``site`` assembles the whole application (login layer, pages, JSON API, static files) and ``serve``
runs it with uvicorn in a thread of ``edgelabel-collector serve``; the scripts under ``static/``
read the JSON API and never put data into HTML (``textContent`` only).
"""
