"""Model deployments to devices and the devices' reports: ``models deploy``, ``rollback``, ``status``.

A row of ``model_deployments`` says "device D should run registered model M" (``active``) or "run
M beside its current model and report how far they agree" (``shadow``). ``previous_model_id``
is the weights id D reported in its last heartbeat when the deployment was made: what ``models
rollback`` goes back to. ``model_reports`` holds what the device said about a deployment
(:class:`edge.contract.rollout.ModelReport`); a repeated outcome (a shadowing device reports its
agreement again and again) updates that outcome's row instead of adding one.

Deployments go to agents, by the name of their key: the cameras of a multi-camera agent
(``site-1/gate``, see :data:`edge.contract.wire.CAMERA_SEPARATOR`) share its detector, so their
heartbeats carry the agent's offer and count as the agent's heartbeats here.

A device's pending offer is its newest deployment as long as no report of it has a final outcome
(:data:`edge.contract.rollout.FINAL_OUTCOMES`): a newer deployment (a rollback, another model)
replaces an older one that was never taken up.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, text

from edge.contract.rollout import FINAL_OUTCOMES, MODES, ModelOffer, ModelReport, agreement_ratio
from edge.contract.wire import CAMERA_SEPARATOR, weights_id
from server.db import Database
from server.models import ModelRegistryError
from server.models.registry import get_model

KINDS = ("deploy", "canary", "rollback")
"""How a deployment came about (shown by ``models status``)."""
SERVING_OUTCOMES = ("running", "shadowing")
"""Outcomes after which the device may still fetch the file (e.g. after losing it on disk)."""

_FINAL = ", ".join(f"'{outcome}'" for outcome in sorted(FINAL_OUTCOMES))
_SELECT = ("SELECT d.id, d.device, m.name, d.sha256, m.model_id, m.file_name, m.size_bytes, d.mode, d.shadow_every,"
           " d.kind, d.previous_model_id, d.created_by, d.created_at"
           " FROM model_deployments d JOIN model_registry m ON m.sha256 = d.sha256")


class DeploymentMismatch(ModelRegistryError):
    """A report that names a deployment of another device or model."""


@dataclass(frozen=True)
class Deployment:
    id: int
    device: str
    name: str
    """The registered model's name."""
    sha256: str
    model_id: str
    file_name: str
    size_bytes: int
    mode: str
    shadow_every: int
    kind: str
    previous_model_id: str | None
    """The weights id the device's last heartbeat named when this was deployed (None: none yet)."""
    created_by: str
    created_at: float

    def offer(self) -> ModelOffer:
        """The offer the device gets (unsigned); ``issued_at`` is the deployment's time, so that
        the same deployment is always the same signed bytes."""
        return ModelOffer(deployment=self.id, device=self.device, name=self.name, model_id=self.model_id,
                          file_name=self.file_name, sha256=self.sha256, size_bytes=self.size_bytes, mode=self.mode,
                          issued_at=self.created_at, shadow_every=self.shadow_every)

    def to_json(self) -> dict:
        return asdict(self)


# --- choosing devices ------------------------------------------------------------------------------


def agent_of(device: str) -> str:
    """The agent a device name belongs to: itself, or the agent of a camera (``site-1/gate``)."""
    return device.split(CAMERA_SEPARATOR, 1)[0]


def agent_heartbeats(conn: Connection) -> dict[str, dict]:
    """Agent -> its newest heartbeat (device, model_id, received_at), its own or a camera's, with
    ``cameras``: the camera device names that sent one."""
    latest: dict[str, dict] = {}
    cameras: dict[str, set[str]] = {}
    for row in conn.execute(text("SELECT device, model_id, received_at FROM device_status ORDER BY received_at")):
        agent = agent_of(row.device)
        latest[agent] = {"device": row.device, "model_id": row.model_id, "received_at": row.received_at}
        if row.device != agent:
            cameras.setdefault(agent, set()).add(row.device)
    for agent, heartbeat in latest.items():
        heartbeat["cameras"] = sorted(cameras.get(agent, ()))
    return latest


def check_agents(devices: Iterable[str]) -> None:
    """Refuse a camera's device name: deployments go to its agent."""
    cameras = [device for device in devices if agent_of(device) != device]
    if cameras:
        raise ModelRegistryError(f"{cameras[0]!r} is a camera of agent {agent_of(cameras[0])!r}, whose cameras share "
                                 f"one model: deploy to {agent_of(cameras[0])!r}")


def known_devices(conn: Connection, allowlisted: Iterable[str] = ()) -> list[str]:
    """Agents that sent a heartbeat (or whose cameras did), and the devices allowed to connect
    (``keys list``), sorted."""
    return sorted(set(agent_heartbeats(conn)) | set(allowlisted))


def canary_pick(devices: Sequence[str], sha256: str, percent: float) -> list[str]:
    """``percent`` of ``devices`` (rounded up, at least one), sorted. Deterministic: ranked by a
    hash of the model and the device name, so the same command picks the same cameras and each
    model's canaries are spread over different cameras."""
    if not 0 < percent <= 100:
        raise ModelRegistryError(f"--canary must be a percentage in (0, 100], got {percent:g}")
    count = max(1, math.ceil(len(devices) * percent / 100 - 1e-9))
    ranked = sorted(devices, key=lambda device: hashlib.sha256(f"{sha256}\n{device}".encode()).hexdigest())
    return sorted(ranked[:count])


# --- making deployments ----------------------------------------------------------------------------


def deploy(db: Database, name: str, devices: Sequence[str], mode: str = "active", shadow_every: int = 1,
           kind: str = "deploy", created_by: str = "", now: float | None = None) -> list[Deployment]:
    """A new deployment of registered model ``name`` to each of ``devices``."""
    if mode not in MODES:
        raise ModelRegistryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if kind not in KINDS:
        raise ModelRegistryError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 1 <= shadow_every <= 10_000:
        raise ModelRegistryError(f"--shadow-every must be in [1, 10000], got {shadow_every}")
    if not devices:
        raise ModelRegistryError("no device to deploy to")
    check_agents(devices)
    now = time.time() if now is None else now
    with db.write("deploy a model") as conn:
        model = get_model(conn, name)
        running = agent_heartbeats(conn)
        ids = []
        for device in devices:
            previous = weights_id(running[device]["model_id"]) if device in running else None
            ids.append(conn.execute(text(
                "INSERT INTO model_deployments (device, sha256, mode, shadow_every, kind, previous_model_id,"
                " created_by, created_at) VALUES (:device, :sha256, :mode, :every, :kind, :previous, :by, :at)"
                " RETURNING id"), {"device": device, "sha256": model.sha256, "mode": mode, "every": shadow_every,
                                   "kind": kind, "previous": previous, "by": created_by, "at": now}).scalar_one())
        return [_deployment(conn, deployment_id) for deployment_id in ids]


def rollback_target(conn: Connection, device: str) -> str:
    """The registered name of the model ``device`` ran before its current deployment: the newest
    active one that runs, or that is still pending."""
    history = device_deployments(conn, device)
    for position, deployment in enumerate(history):
        outcome = last_outcome(conn, deployment.id)
        current = outcome == "running" or (position == 0 and outcome not in FINAL_OUTCOMES)
        if deployment.mode != "active" or not current:
            continue
        if deployment.previous_model_id is None:
            raise ModelRegistryError(f"device {device!r} sent no heartbeat before deployment {deployment.id}, so "
                                     "the model it ran before is unknown: give --to NAME")
        name = conn.execute(text("SELECT name FROM model_registry WHERE model_id = :id ORDER BY added_at LIMIT 1"),
                            {"id": deployment.previous_model_id}).scalar()
        if name is None:
            raise ModelRegistryError(f"device {device!r} ran {deployment.previous_model_id} before deployment "
                                     f"{deployment.id}, which is not registered: 'models add' its file, or give "
                                     "--to NAME")
        return name
    raise ModelRegistryError(f"device {device!r} has no running or pending deployment to roll back (see "
                             "'models status'); give --to NAME to deploy a model")


def rollback(db: Database, device: str, to: str | None = None, created_by: str = "",
             now: float | None = None) -> Deployment:
    """A new active deployment to ``device`` of ``to``, by default of the model it ran before."""
    if to is None:
        with db.read("find the model to roll back to") as conn:
            to = rollback_target(conn, device)
    [deployment] = deploy(db, to, [device], kind="rollback", created_by=created_by, now=now)
    return deployment


# --- what the receiver asks ------------------------------------------------------------------------


def pending_deployment(conn: Connection, device: str) -> Deployment | None:
    """The deployment to offer ``device`` (its newest, unless a final outcome was reported); give
    a camera's heartbeat the offer of :func:`agent_of` it."""
    row = conn.execute(text(
        f"{_SELECT} WHERE d.id = (SELECT MAX(id) FROM model_deployments WHERE device = :device)"
        f" AND NOT EXISTS (SELECT 1 FROM model_reports r WHERE r.deployment = d.id AND r.outcome IN ({_FINAL}))"),
        {"device": device}).mappings().first()
    return Deployment(**row) if row is not None else None


def may_download(conn: Connection, device: str, sha256: str) -> bool:
    """Whether ``device`` may fetch the model file ``sha256``: it is the device's pending deployment,
    or a deployment of it to the device is running (or shadowing)."""
    pending = pending_deployment(conn, device)
    if pending is not None and pending.sha256 == sha256:
        return True
    serving = ", ".join(f"'{outcome}'" for outcome in SERVING_OUTCOMES)
    return conn.execute(text(
        "SELECT 1 FROM model_deployments d WHERE d.device = :device AND d.sha256 = :sha256 AND"
        " (SELECT r.outcome FROM model_reports r WHERE r.deployment = d.id ORDER BY r.id DESC LIMIT 1)"
        f" IN ({serving}) LIMIT 1"), {"device": device, "sha256": sha256}).first() is not None


def record_report(conn: Connection, report: ModelReport, now: float | None = None) -> tuple[Deployment, bool]:
    """Store ``report``; returns its deployment and whether the outcome is new for it (False: a
    repeat, which updated the outcome's row). Raises :class:`DeploymentMismatch` for a report of a
    deployment that is not the reporting device's, or not of that file."""
    deployment = _deployment(conn, report.deployment)
    if deployment is None or deployment.device != report.device or deployment.sha256 != report.sha256:
        raise DeploymentMismatch(f"deployment {report.deployment} is not a deployment of model {report.sha256[:12]} "
                                 f"to device {report.device!r}")
    agreement = report.agreement or {}
    values = {"deployment": report.deployment, "device": report.device, "outcome": report.outcome,
              "detail": report.detail, "frames": agreement.get("frames"),
              "current_boxes": agreement.get("current_boxes"), "candidate_boxes": agreement.get("candidate_boxes"),
              "matched_boxes": agreement.get("matched_boxes"), "device_ts": report.ts,
              "received_at": time.time() if now is None else now}
    last = conn.execute(text("SELECT id, outcome FROM model_reports WHERE deployment = :deployment"
                             " ORDER BY id DESC LIMIT 1"), values).first()
    if last is not None and last.outcome == report.outcome:
        conn.execute(text("UPDATE model_reports SET detail = :detail, frames = :frames, current_boxes = :current_boxes,"
                          " candidate_boxes = :candidate_boxes, matched_boxes = :matched_boxes,"
                          " device_ts = :device_ts, received_at = :received_at WHERE id = :id"),
                     {**values, "id": last.id})
        return deployment, False
    conn.execute(text(f"INSERT INTO model_reports ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"),
                 values)
    return deployment, True


# --- reading ---------------------------------------------------------------------------------------


def device_deployments(conn: Connection, device: str) -> list[Deployment]:
    """``device``'s deployments, newest first."""
    rows = conn.execute(text(f"{_SELECT} WHERE d.device = :device ORDER BY d.id DESC"), {"device": device}).mappings()
    return [Deployment(**row) for row in rows]


def last_outcome(conn: Connection, deployment_id: int) -> str | None:
    return conn.execute(text("SELECT outcome FROM model_reports WHERE deployment = :id ORDER BY id DESC LIMIT 1"),
                        {"id": deployment_id}).scalar()


def reports(conn: Connection, deployment_id: int) -> list[dict]:
    """The deployment's reports, oldest first (one per outcome)."""
    rows = conn.execute(text("SELECT outcome, detail, frames, current_boxes, candidate_boxes, matched_boxes,"
                             " device_ts, received_at FROM model_reports WHERE deployment = :id ORDER BY id"),
                        {"id": deployment_id}).mappings().all()
    return [_report(row) for row in rows]


def deployment_state(conn: Connection, deployment: Deployment) -> dict:
    """The deployment with its reports, its state (``pending`` until a final outcome, or
    ``superseded`` when a newer deployment replaced it before) and its shadow agreement."""
    history = reports(conn, deployment.id)
    final = next((report for report in reversed(history) if report["outcome"] in FINAL_OUTCOMES), None)
    newest = conn.execute(text("SELECT MAX(id) FROM model_deployments WHERE device = :device"),
                          {"device": deployment.device}).scalar()
    state = final["outcome"] if final else ("pending" if newest == deployment.id else "superseded")
    agreement = next((report["agreement"] for report in reversed(history) if report["agreement"]), None)
    return {**deployment.to_json(), "state": state, "reports": history, "agreement": agreement,
            "agreement_ratio": agreement_ratio(agreement) if agreement else None}


def rollout_status(conn: Connection, allowlisted: Iterable[str] = ()) -> list[dict]:
    """Per known agent: the model its last heartbeat (or a camera's) named and its registered name,
    its newest deployment with state and reports, and its newest shadow deployment's agreement."""
    heartbeats = agent_heartbeats(conn)
    names = dict(conn.execute(text("SELECT model_id, name FROM model_registry ORDER BY added_at DESC")).all())
    deployed = conn.execute(text("SELECT DISTINCT device FROM model_deployments")).scalars().all()
    status = []
    for device in sorted(set(heartbeats) | set(deployed) | set(allowlisted)):
        heartbeat = heartbeats.get(device)
        history = device_deployments(conn, device)
        shadow = next((deployment for deployment in history if deployment.mode == "shadow"), None)
        shadow_state = deployment_state(conn, shadow) if shadow else None
        status.append({
            "device": device,
            "model_id": heartbeat["model_id"] if heartbeat else None,
            "model": names.get(weights_id(heartbeat["model_id"])) if heartbeat else None,
            "heartbeat_at": heartbeat["received_at"] if heartbeat else None,
            "cameras": heartbeat["cameras"] if heartbeat else [],
            "deployment": deployment_state(conn, history[0]) if history else None,
            "shadow": None if shadow_state is None else {
                key: shadow_state[key] for key in ("id", "name", "state", "agreement", "agreement_ratio")},
        })
    return status


def deployments_by_model(conn: Connection) -> dict[str, list[dict]]:
    """SHA-256 -> that model's deployments (id, device, mode, kind, state), oldest first (``models list``)."""
    rows = conn.execute(text(f"{_SELECT} ORDER BY d.id")).mappings().all()
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        state = deployment_state(conn, Deployment(**row))
        by_model.setdefault(row["sha256"], []).append(
            {key: state[key] for key in ("id", "device", "mode", "kind", "state", "created_at")})
    return by_model


def _deployment(conn: Connection, deployment_id: int) -> Deployment | None:
    row = conn.execute(text(f"{_SELECT} WHERE d.id = :id"), {"id": deployment_id}).mappings().first()
    return Deployment(**row) if row is not None else None


def _report(row) -> dict:
    counts = ("frames", "current_boxes", "candidate_boxes", "matched_boxes")
    agreement = {key: row[key] for key in counts} if row["frames"] is not None else None
    return {"outcome": row["outcome"], "detail": row["detail"], "agreement": agreement,
            "device_ts": row["device_ts"], "received_at": row["received_at"]}
