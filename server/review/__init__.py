"""The review queue: ``priority`` (where a frame goes in the queue), ``queue`` (claims, leases,
submissions and the audit trail; its docstring describes the data model) and ``annotations``
(checking a reviewer's boxes)."""
