"""The taxonomy tables, and the model's pre-labels under project class names.

Tables (migration ``0006_taxonomy``):

* ``taxonomy_classes``: ``name``, its written ``guideline`` and ``position`` (display order).
* ``taxonomy_aliases``: other names of a class (what a reviewer may type, what an imported
  dataset or another model may call it).
* ``model_class_map``: (``model_id``, ``model_class``) -> project ``class_name``, for model
  classes whose name is not already a class's name or alias (yolox ``person`` -> ``pedestrian``).
* ``class_examples``: example crops of a class, cut from an accepted box of a verified frame;
  the crop is a JPEG in the content-addressed media store (``crop_sha256``, served by ``/media/``).

``detections`` stay the model's immutable pre-labels. :func:`detections_of` gives them under their
project class (``class_name``), with the model's own name (``model_class``) and how it was mapped
(``mapping``): everything that turns pre-labels into ``annotations`` (accepting a frame, a track,
an adjudication) reads them through it, so verified annotations, and the exports built on them,
carry project class names. All functions run on the caller's connection inside its transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from server.db import sql
from server.errors import FrameNotFoundError
from server.frames.state import VERIFIED_STATUSES
from server.taxonomy.model import ClassSpec, Taxonomy, TaxonomyError

MAX_EXAMPLES_PER_CLASS = 12
MAX_CANDIDATES = 60


# --- reading ---------------------------------------------------------------------------------------


def load(conn: Connection) -> Taxonomy:
    aliases: dict[str, list[str]] = {}
    for alias, class_name in conn.execute(text("SELECT alias, class_name FROM taxonomy_aliases"
                                               " ORDER BY class_name, position")):
        aliases.setdefault(class_name, []).append(alias)
    classes = tuple(
        ClassSpec(name, guideline, tuple(aliases.get(name, ())))
        for name, guideline in conn.execute(text("SELECT name, guideline FROM taxonomy_classes ORDER BY position, name"))
    )
    mappings = {(model_id, model_class): class_name for model_id, model_class, class_name in conn.execute(text(
        "SELECT model_id, model_class, class_name FROM model_class_map ORDER BY model_id, model_class"))}
    return Taxonomy(classes, mappings)


def detections_of(conn: Connection, frame_id: int, taxonomy: Taxonomy | None = None) -> list[dict]:
    """A frame's pre-labels with ``class_name`` the project class, ``model_class`` the model's name
    and ``mapping`` how one became the other (None: unmapped, see :meth:`Taxonomy.project_class`)."""
    taxonomy = load(conn) if taxonomy is None else taxonomy
    row = conn.execute(text("SELECT model_id FROM frames WHERE id = :id"), {"id": frame_id}).first()
    if row is None:
        raise FrameNotFoundError(f"no frame {frame_id}")
    detections = []
    for values in conn.execute(text("SELECT id, x1, y1, x2, y2, score, class_id, class_name, track_id"
                                    " FROM detections WHERE frame_id = :id ORDER BY id"), {"id": frame_id}):
        detection = dict(zip(("id", "x1", "y1", "x2", "y2", "score", "class_id", "class_name", "track_id"), values))
        detection["model_class"] = detection["class_name"]
        detection["class_name"], detection["mapping"] = taxonomy.project_class(row[0], detection["model_class"])
        detections.append(detection)
    return detections


def model_classes(conn: Connection) -> dict[str, list[str]]:
    """Every known model's class names (from the frames it sent), by model id."""
    return {model_id: json.loads(names) for model_id, names in conn.execute(text("SELECT id, class_names FROM models"
                                                                                 " ORDER BY id"))}


def describe(conn: Connection) -> dict:
    """The whole taxonomy as the API and ``classes list --json`` show it: classes with guideline,
    aliases and examples, and per model every class with the project class it becomes."""
    taxonomy = load(conn)
    examples: dict[str, list[dict]] = {}
    for row in conn.execute(text("SELECT id, class_name, frame_id, annotation_id, crop_sha256, crop_width,"
                                 " crop_height, added_by, added_at FROM class_examples ORDER BY class_name, id")):
        example = dict(zip(("id", "class_name", "frame_id", "annotation_id", "media", "width", "height", "added_by",
                            "added_at"), row))
        examples.setdefault(example.pop("class_name"), []).append(example)
    known = model_classes(conn)
    for model_id, model_class in taxonomy.mappings:  # mapped before the model sent a frame
        known.setdefault(model_id, [])
        if model_class not in known[model_id]:
            known[model_id].append(model_class)
    models = []
    for model_id, names in sorted(known.items()):
        rows = []
        for model_class in names:
            class_name, how = taxonomy.project_class(model_id, model_class)
            rows.append({"model_class": model_class, "class_name": class_name if how else None, "how": how})
        models.append({"model_id": model_id, "classes": rows,
                       "unmapped": [r["model_class"] for r in rows if r["how"] is None]})
    return {
        "empty": taxonomy.empty,
        "classes": [{"name": spec.name, "guideline": spec.guideline, "aliases": list(spec.aliases),
                     "examples": examples.get(spec.name, [])} for spec in taxonomy.classes],
        "models": models,
    }


# --- writing ---------------------------------------------------------------------------------------


def save(conn: Connection, taxonomy: Taxonomy, user: str, now: float) -> None:
    """Make the tables hold ``taxonomy`` (already checked by its constructor).

    Classes keep their rows (and so their examples) when they stay; removed classes lose their
    aliases, mappings and examples (ON DELETE CASCADE).
    """
    old = {name: (guideline, position) for name, guideline, position in conn.execute(text(
        "SELECT name, guideline, position FROM taxonomy_classes"))}
    keep = set(taxonomy.class_names())
    removed = [{"name": name} for name in old if name not in keep]
    if removed:
        conn.execute(text("DELETE FROM taxonomy_classes WHERE name = :name"), removed)
    conn.execute(text("DELETE FROM taxonomy_aliases"))
    conn.execute(text("DELETE FROM model_class_map"))
    for position, spec in enumerate(taxonomy.classes):
        if old.get(spec.name) != (spec.guideline, position):
            conn.execute(text(
                "INSERT INTO taxonomy_classes (name, guideline, position, updated_by, updated_at)"
                " VALUES (:name, :guideline, :position, :user, :now) ON CONFLICT (name) DO UPDATE SET"
                " guideline = excluded.guideline, position = excluded.position, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at"),
                {"name": spec.name, "guideline": spec.guideline, "position": position, "user": user, "now": now})
        if spec.aliases:
            conn.execute(text("INSERT INTO taxonomy_aliases (alias, class_name, position)"
                              " VALUES (:alias, :class_name, :position)"),
                         [{"alias": alias, "class_name": spec.name, "position": index}
                          for index, alias in enumerate(spec.aliases)])
    if taxonomy.mappings:
        conn.execute(text("INSERT INTO model_class_map (model_id, model_class, class_name)"
                          " VALUES (:model_id, :model_class, :class_name)"),
                     [{"model_id": model_id, "model_class": model_class, "class_name": target}
                      for (model_id, model_class), target in taxonomy.mappings.items()])


def example_source(conn: Connection, class_name: str, annotation_id: int) -> dict:
    """The frame and box of an annotation an admin wants as an example of ``class_name``.

    The annotation must belong to a verified (accepted or corrected) frame and be of that class
    (by name or alias). Raises :class:`TaxonomyError` / :class:`FrameNotFoundError`.
    """
    taxonomy = load(conn)
    canonical = taxonomy.get(class_name).name
    row = conn.execute(text("SELECT a.frame_id, a.x1, a.y1, a.x2, a.y2, a.class_name, f.status, f.media_sha256,"
                            " f.width, f.height FROM annotations a JOIN frames f ON f.id = a.frame_id WHERE a.id = :id"),
                       {"id": annotation_id}).first()
    if row is None:
        raise FrameNotFoundError(f"no annotation {annotation_id}")
    frame_id, x1, y1, x2, y2, annotated_as, status, media, width, height = row
    if status not in VERIFIED_STATUSES:
        raise TaxonomyError(f"annotation {annotation_id} is on frame {frame_id}, which is {status}: examples come "
                            "from accepted or corrected frames")
    if taxonomy.resolve(annotated_as) != canonical:
        raise TaxonomyError(f"annotation {annotation_id} is a {annotated_as!r}, not a {canonical!r}")
    count = conn.execute(text("SELECT COUNT(*) FROM class_examples WHERE class_name = :name"),
                         {"name": canonical}).scalar_one()
    if count >= MAX_EXAMPLES_PER_CLASS:
        raise TaxonomyError(f"class {canonical!r} has {count} examples already (at most {MAX_EXAMPLES_PER_CLASS}): "
                            "remove one first")
    return {"class_name": canonical, "frame_id": frame_id, "annotation_id": annotation_id,
            "box": (x1, y1, x2, y2), "media": media, "width": width, "height": height}


def add_example(conn: Connection, source: dict, crop: tuple[str, int, int], user: str, now: float) -> dict:
    """Record an example crop (``crop``: its media digest, width, height) of ``source``
    (:func:`example_source`, which the caller runs again in this transaction)."""
    digest, width, height = crop
    x1, y1, x2, y2 = source["box"]
    example_id = conn.execute(text(
        "INSERT INTO class_examples (class_name, frame_id, annotation_id, x1, y1, x2, y2, crop_sha256, crop_width,"
        " crop_height, added_by, added_at) VALUES (:class_name, :frame_id, :annotation_id, :x1, :y1, :x2, :y2,"
        " :digest, :width, :height, :user, :now) ON CONFLICT (class_name, annotation_id) DO NOTHING RETURNING id"),
        {"class_name": source["class_name"], "frame_id": source["frame_id"], "annotation_id": source["annotation_id"],
         "x1": x1, "y1": y1, "x2": x2, "y2": y2, "digest": digest, "width": width, "height": height, "user": user,
         "now": now}).scalar()
    if example_id is None:
        raise TaxonomyError(f"annotation {source['annotation_id']} is already an example of "
                            f"{source['class_name']!r}")
    return {"id": example_id, "class_name": source["class_name"], "frame_id": source["frame_id"],
            "annotation_id": source["annotation_id"], "media": digest, "width": width, "height": height,
            "added_by": user, "added_at": now}


def remove_example(conn: Connection, example_id: int) -> None:
    if conn.execute(text("DELETE FROM class_examples WHERE id = :id"), {"id": example_id}).rowcount == 0:
        raise FrameNotFoundError(f"no example {example_id}")


def candidates(conn: Connection, class_name: str, limit: int = MAX_CANDIDATES) -> list[dict]:
    """Verified boxes of a class (by name or alias), newest first, that are not examples yet:
    what an admin picks examples from."""
    taxonomy = load(conn)
    spec = taxonomy.get(class_name)
    names = [spec.name, *spec.aliases]  # compared lower-cased, as names resolve ignoring case
    return [
        dict(zip(("annotation_id", "frame_id", "x1", "y1", "x2", "y2", "class_name", "author", "media", "width",
                  "height"), row))
        for row in conn.execute(sql(
            "SELECT a.id, a.frame_id, a.x1, a.y1, a.x2, a.y2, a.class_name, a.author, f.media_sha256, f.width,"
            " f.height FROM annotations a JOIN frames f ON f.id = a.frame_id WHERE lower(a.class_name) IN :names"
            " AND f.status IN :verified AND a.id NOT IN (SELECT annotation_id FROM class_examples"
            " WHERE class_name = :class_name) ORDER BY a.id DESC LIMIT :limit", "names", "verified"),
            {"names": [name.lower() for name in names], "verified": VERIFIED_STATUSES, "class_name": spec.name,
             "limit": limit})
    ]
