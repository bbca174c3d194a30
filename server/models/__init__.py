"""The model registry and its evaluation on verified frames (``edgelabel-collector models``).

* :mod:`.registry`: registered model files (content-addressed in the media store, so every node
  of an S3 deployment reads the same bytes) with what the agent reads from them.
* :mod:`.agent`: the agent's own code, run as a subprocess (``python -m edge inspect|detect``):
  the collector imports nothing of the agent (``tests/test_boundaries.py``), and a model is
  judged by the code that will run it on a device.
* :mod:`.evaluation`: a model's boxes on verified frames against the reviewers' boxes.
* :mod:`.report`: the evaluation as JSON and as an HTML page.
"""

from server.errors import CollectorError


class ModelRegistryError(CollectorError):
    """A model that cannot be registered, found or run."""
