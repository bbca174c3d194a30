"""The taxonomy in memory: classes, aliases, per-model mappings, and how a name resolves.

Names compare case-insensitively (``str.casefold``): ``Person`` and ``person`` cannot be two
classes, nor a class and an alias. A name *resolves* to its class when it is the class's name or
one of its aliases. A model's class name becomes a project class by, in this order: the explicit
mapping of that model, or of its weights on any runtime (``how = "mapped"``), the class of the same name (``"name"``), an alias
(``"alias"``); otherwise it is *unmapped* (``how = None``) and keeps the model's name, flagged.
An empty taxonomy (no class) maps nothing and resolves every name to itself (``how = "model"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from edge.contract.limits import MAX_NAME_CHARS
from edge.contract.wire import weights_id
from server.errors import CollectorError, SubmissionError

MAX_GUIDELINE_CHARS = 4000


class TaxonomyError(CollectorError):
    """A taxonomy change or file breaks the rules; ``path`` names the offending key, e.g.
    ``("classes", "pedestrian", "aliases")``, so a file reader can point at its line."""

    def __init__(self, message: str, path: tuple[str, ...] = ()):
        super().__init__(message)
        self.path = path


class UnknownClassError(TaxonomyError):
    """No class (nor alias) of the taxonomy has this name."""


@dataclass(frozen=True)
class ClassSpec:
    """One project class as written: its name, guideline and aliases."""

    name: str
    guideline: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    classes: tuple[ClassSpec, ...] = ()
    """In their display order (the review screen's keys 1..9)."""
    mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    """(model id, model class name) -> project class name."""

    def __post_init__(self) -> None:
        check(self)

    @property
    def empty(self) -> bool:
        return not self.classes

    def class_names(self) -> list[str]:
        return [spec.name for spec in self.classes]

    def get(self, name: str) -> ClassSpec:
        """The class ``name`` (or an alias of it) resolves to; :class:`UnknownClassError` otherwise."""
        canonical = self.resolve(name)
        if canonical is None:
            raise UnknownClassError(f"no class {name!r} in the taxonomy{self._choices()}")
        return next(spec for spec in self.classes if spec.name == canonical)

    def resolve(self, name: str) -> str | None:
        """The class a typed or imported name stands for (its own name or an alias), else None."""
        return self._lookup.get(name.casefold())

    def project_class(self, model_id: str, model_class: str) -> tuple[str, str | None]:
        """(project class name, how) of a model's class; see the module docstring for ``how``."""
        if self.empty:
            return model_class, "model"
        # A mapping made for the weights covers them on every runtime (ids are weights@runtime).
        mapped = self.mappings.get((model_id, model_class)) or self.mappings.get((weights_id(model_id), model_class))
        if mapped is not None:
            return mapped, "mapped"
        canonical = self.resolve(model_class)
        if canonical is not None:
            return canonical, "name" if canonical.casefold() == model_class.casefold() else "alias"
        return model_class, None

    def submitted_class(self, name: str, model_class_kept: str | None = None) -> str:
        """The class to store for a reviewer's box labelled ``name``.

        Aliases resolve to their class. With a taxonomy, a name outside it is refused, except
        ``model_class_kept``: an unmapped pre-label the reviewer left as the model named it (so an
        unmapped model class never blocks a review). Raises :class:`SubmissionError`.
        """
        if self.empty:
            return name
        canonical = self.resolve(name)
        if canonical is not None:
            return canonical
        if model_class_kept is not None and name == model_class_kept:
            return name
        raise SubmissionError(f"class {name!r} is not in the taxonomy{self._choices()}")

    def with_class(self, spec: ClassSpec) -> Taxonomy:
        """This taxonomy with ``spec`` added, or replacing the class of the same name (in place)."""
        names = self.class_names()
        classes = list(self.classes)
        if spec.name in names:
            classes[names.index(spec.name)] = spec
        else:
            classes.append(spec)
        return Taxonomy(tuple(classes), dict(self.mappings))

    def without_class(self, name: str) -> Taxonomy:
        canonical = self.get(name).name
        return Taxonomy(tuple(c for c in self.classes if c.name != canonical),
                        {key: target for key, target in self.mappings.items() if target != canonical})

    def with_mapping(self, model_id: str, model_class: str, target: str | None) -> Taxonomy:
        """This taxonomy with a model class mapped to ``target`` (an alias resolves), or unmapped (None)."""
        mappings = dict(self.mappings)
        if target is None:
            mappings.pop((model_id, model_class), None)
        else:
            mappings[(model_id, model_class)] = self.get(target).name
        return Taxonomy(self.classes, mappings)

    @cached_property
    def _lookup(self) -> dict[str, str]:
        lookup = {}
        for spec in self.classes:
            lookup[spec.name.casefold()] = spec.name
            for alias in spec.aliases:
                lookup[alias.casefold()] = spec.name
        return lookup

    def _choices(self) -> str:
        names = self.class_names()
        if not names:
            return " (it is empty)"
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        return f"; expected one of {shown} or an alias of one"


def check_name(name: object, what: str, path: tuple[str, ...]) -> str:
    """A class name or alias: a printable string of 1..MAX_NAME_CHARS without surrounding blanks."""
    if not isinstance(name, str):
        raise TaxonomyError(f"{what}: expected a string, got {type(name).__name__} {name!r}", path)
    if not (0 < len(name) <= MAX_NAME_CHARS and name.isprintable() and name == name.strip()):
        raise TaxonomyError(f"{what} {name!r:.80}: expected 1..{MAX_NAME_CHARS} printable characters, "
                            "no leading or trailing blanks", path)
    return name


def check(taxonomy: Taxonomy) -> None:
    """Every name valid and unique (case-insensitively) across classes and aliases; every mapping
    onto a class. Raises :class:`TaxonomyError` naming the first offending key."""
    owners: dict[str, tuple[str, ...]] = {}  # folded name -> where it was first used
    for spec in taxonomy.classes:
        where = ("classes", spec.name)
        check_name(spec.name, "class name", where)
        _claim(owners, spec.name, f"class {spec.name!r}", where)
        if not isinstance(spec.guideline, str) or len(spec.guideline) > MAX_GUIDELINE_CHARS:
            raise TaxonomyError(f"classes.{spec.name}.guideline: expected text of at most {MAX_GUIDELINE_CHARS} "
                                "characters", (*where, "guideline"))
        for alias in spec.aliases:
            check_name(alias, f"classes.{spec.name}.aliases: alias", (*where, "aliases"))
            _claim(owners, alias, f"alias {alias!r} of class {spec.name!r}", (*where, "aliases"))
    names = {spec.name for spec in taxonomy.classes}
    for (model_id, model_class), target in taxonomy.mappings.items():
        where = ("models", model_id, model_class)
        check_name(model_id, "model id", ("models", model_id))
        check_name(model_class, f"models.{model_id}: model class", where)
        if target not in names:
            raise UnknownClassError(f"models.{model_id}.{model_class}: maps to {target!r}, which is not a class"
                                    f" (classes: {', '.join(sorted(names)) or 'none'})", where)


def _claim(owners: dict[str, tuple[str, ...]], name: str, what: str, where: tuple[str, ...]) -> None:
    folded = name.casefold()
    if folded in owners:
        first = ".".join(owners[folded])
        raise TaxonomyError(f"{what}: the name {name!r} is already taken (at {first}); class names and aliases "
                            "must be unique, ignoring case", where)
    owners[folded] = where
