"""A frame's state: :mod:`server.frames.state` is the one module that changes a frame's status,
writes its annotations and records its review events."""
