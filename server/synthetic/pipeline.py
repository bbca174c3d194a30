"""The order of the steps of ``synthesize``: the only module that knows it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from server.datadir import MEDIA_DIRNAME
from server.db import Database, open_database
from server.media import MediaBackend, MediaStore
from server.synthetic import runs
from server.synthetic.background import Background, current_background
from server.synthetic.bank import ObjectBank, build_bank
from server.synthetic.errors import NotEnoughDataError, UnknownClassError
from server.synthetic.generate import SynthesisSettings, generate
from server.synthetic.placement import PlacementModel, learn_placement
from server.synthetic.source_frames import check_device, verified_frames
from server.taxonomy.queries import load as load_taxonomy

log = logging.getLogger("server.synthetic")

MIN_BANK_OBJECTS = 3
"""Fewer usable objects of a class than this would paste the same few people again and again."""

Progress = Callable[[Iterable, int, str], Iterator]


def _no_progress(items: Iterable, total: int, description: str) -> Iterator:
    yield from items


@dataclass
class SynthesisResult:
    device: str
    run_id: int
    frame_ids: list[int] = field(default_factory=list)
    objects: int = 0
    objects_by_class: dict[str, int] = field(default_factory=dict)
    background: Background | None = None
    bank_objects: dict[str, int] = field(default_factory=dict)
    bank_mask_kinds: dict[str, int] = field(default_factory=dict)
    bank_rejected: dict[str, int] = field(default_factory=dict)
    """``class/reason`` -> count."""

    def to_json(self) -> dict:
        background = self.background
        return {
            "device": self.device, "run_id": self.run_id, "frames": len(self.frame_ids), "frame_ids": self.frame_ids,
            "objects": self.objects, "objects_by_class": self.objects_by_class,
            "background": None if background is None else {
                "media_sha256": background.media_sha256, "frames": len(background.frame_ids),
                "eligible_frames": background.eligible_frames,
                "uncovered_fraction": round(background.uncovered_fraction, 4), "computed_at": background.computed_at},
            "bank": {"objects": self.bank_objects, "mask_kinds": self.bank_mask_kinds, "rejected": self.bank_rejected},
        }


def prepare(db: Database, media: MediaBackend, device: str, classes: tuple[str, ...], refresh_background: bool = False
            ) -> tuple[list, Background, ObjectBank, dict[str, PlacementModel]]:
    """Everything generation needs for ``device``; raises a typed error when something is missing."""
    with db.read("read the verified frames") as conn:
        check_device(conn, device)
        frames = verified_frames(conn, device)
    models = {name: learn_placement(frames, name) for name in classes}
    never_seen = [name for name, model in models.items() if model is None]
    if never_seen:
        seen = sorted({box.class_name for frame in frames for box in frame.boxes})
        raise UnknownClassError(
            f"class {', '.join(repr(n) for n in never_seen)} was never verified on {device!r}; verified classes "
            f"there: {', '.join(seen) or 'none'}")
    background = current_background(db, media, device, frames, refresh=refresh_background)
    bank = build_bank(frames, background, classes, media)
    for name in classes:
        usable = len(bank.of_class(name))
        if usable < MIN_BANK_OBJECTS:
            rejected = ", ".join(f"{count} {reason}" for (cls, reason), count in sorted(bank.rejected.items())
                                 if cls == name) or "none rejected"
            raise NotEnoughDataError(
                f"only {usable} usable verified {name!r} object(s) on {device!r} (need {MIN_BANK_OBJECTS}; "
                f"left out: {rejected}); review more frames with whole, unoccluded {name} in them")
    return frames, background, bank, models


def synthesize(data_dir: Path, device: str, settings: SynthesisSettings, seed: int = 0, review: bool = False,
               refresh_background: bool = False, progress: Progress = _no_progress,
               database: str | None = None, media: MediaBackend | None = None) -> SynthesisResult:
    """Generate and store ``settings.count`` synthetic frames for ``device`` (in the database at
    the ``database`` URL, else the data directory's own).

    ``media``: where images are read and written; by default the data directory's ``media/``."""
    media = media if media is not None else MediaStore(Path(data_dir) / MEDIA_DIRNAME)
    db = open_database(Path(data_dir), "upgrade", database)
    try:
        # A class may be asked for by an alias of the project's taxonomy, as reviewers type it.
        with db.read("read the taxonomy") as conn:
            taxonomy = load_taxonomy(conn)
        settings = replace(settings, classes=tuple(dict.fromkeys(taxonomy.resolve(name) or name
                                                                 for name in settings.classes)))
        frames, background, bank, models = prepare(db, media, device, settings.classes, refresh_background)
        model_id = frames[-1].model_id  # the vocabulary the objects' labels come from
        run_id = runs.start_run(db, device, settings, seed, background.media_sha256)
        result = SynthesisResult(device=device, run_id=run_id, background=background,
                                 bank_objects={n: len(bank.of_class(n)) for n in settings.classes},
                                 bank_mask_kinds=bank.mask_kinds(),
                                 bank_rejected={f"{c}/{r}": n for (c, r), n in sorted(bank.rejected.items())})
        log.info("%s: bank of %s (masks: %s); %s left out", device,
                 ", ".join(f"{n} {c}" for c, n in result.bank_objects.items()),
                 ", ".join(f"{n} {k}" for k, n in result.bank_mask_kinds.items()),
                 ", ".join(f"{n} {k}" for k, n in result.bank_rejected.items()) or "none")
        rng = np.random.default_rng(seed)
        frames_out = generate(background.image, bank, models, settings, rng)
        for frame in progress(frames_out, settings.count, "synthesize"):
            recipe = runs.recipe_of(frame, background.media_sha256, settings.colour_match)
            result.frame_ids.append(runs.store_frame(db, media, run_id, device, model_id, frame, recipe, review))
            result.objects += len(frame.objects)
            for pasted in frame.objects:
                name = pasted.placement.obj.class_name
                result.objects_by_class[name] = result.objects_by_class.get(name, 0) + 1
        runs.finish_run(db, run_id)
    finally:
        db.close()
    log.info("%s: %d synthetic frame(s) with %d object(s) stored (run %d, %s)", device, len(result.frame_ids),
             result.objects, run_id, "queued for review" if review else "kept out of the review queue")
    return result
