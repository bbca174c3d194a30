"""Privacy redaction on the device: faces, heads and chosen classes made unrecognizable in each
kept frame before it is spooled or sent (see :mod:`edge.redaction.redactor`)."""
