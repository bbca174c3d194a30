"""The agent's side of a model rollout (wire contract: :mod:`edge.contract.rollout`).

The collector answers a heartbeat with a signed offer; the sender hands it to the
:class:`~edge.rollout.manager.RolloutManager`, whose own thread checks it (:mod:`.offers`),
downloads the file in chunks on its own socket (:mod:`.channel`, :mod:`.download`) into the model
store (:mod:`.store`), loads it and runs it on recent kept frames (:mod:`.smoke`), and then either
swaps it in between two frames (:mod:`.live`) or, in shadow mode, runs it beside the current
model on a sample of kept frames and reports how far the two agree (:mod:`.agreement`,
:mod:`.recent`). Whatever fails keeps the current model and is reported.
"""
