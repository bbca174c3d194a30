"""Taxonomy files: TOML (``.toml``) or YAML (``.yaml``/``.yml``), read, checked and written.

The layout (the same keys in YAML)::

    [classes.pedestrian]                 # one table per class, in display order
    guideline = "Anyone on foot, also pushing a bike. Box the whole body, occluded parts too."
    aliases = ["person", "walker"]       # other names that resolve to this class

    [classes.cyclist]
    guideline = "A person riding a bicycle: one box around rider and bike."

    [models."yolox-nano"]                # a model id: its class name = project class (or alias)
    person = "pedestrian"

Only these keys are allowed. Errors are one line naming the file, the line (when it can be
found) and the key: ``taxonomy.toml:7: classes.pedestrian.aliases: expected a list of strings``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w
import yaml

from server.taxonomy.model import ClassSpec, Taxonomy, TaxonomyError

CLASS_KEYS = ("guideline", "aliases")
FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


class TaxonomyFileError(TaxonomyError):
    """A taxonomy file cannot be read or breaks the rules (the message names file, line and key)."""


@dataclass(frozen=True)
class TaxonomyFile:
    """What a file says, checked for shape but not yet against the stored taxonomy."""

    classes: tuple[ClassSpec, ...]
    mappings: tuple[tuple[str, str, str], ...]
    """(model id, model class, target name as written: a class or an alias)."""


def format_of(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise TaxonomyFileError(f"{path}: unknown taxonomy file type {path.suffix or '(none)'!r}; "
                                "expected .toml, .yaml or .yml") from None


def read(path: Path, current: Taxonomy, replace: bool) -> Taxonomy:
    """The taxonomy after importing ``path`` into ``current``.

    ``replace``: the file is the whole taxonomy (classes it leaves out go); else classes of the
    file are added or replace the class of the same name, and its mappings are added.
    """
    path = Path(path)
    kind = format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyFileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = _LineFinder(text, kind)
    try:
        parsed = parse(_load(text, kind, path))
        return merge(current, parsed, replace)
    except TaxonomyFileError:
        raise
    except TaxonomyError as exc:
        line = lines.line_of(exc.path)
        raise TaxonomyFileError(f"{path}:{line}: {exc}" if line else f"{path}: {exc}", exc.path) from None


def parse(document: object) -> TaxonomyFile:
    """Check a loaded document's shape; :class:`TaxonomyError` with the path of the bad key."""
    if not isinstance(document, dict):
        raise TaxonomyError(f"expected tables 'classes' and 'models' at the top, got {type(document).__name__}")
    unknown = [key for key in document if key not in ("classes", "models")]
    if unknown:
        raise TaxonomyError(f"{unknown[0]}: unknown key; expected 'classes' and 'models'", (str(unknown[0]),))
    classes = []
    for name, body in _table(document.get("classes", {}), ("classes",)).items():
        where = ("classes", str(name))
        body = _table(body, where)
        unknown = [key for key in body if key not in CLASS_KEYS]
        if unknown:
            raise TaxonomyError(f"classes.{name}.{unknown[0]}: unknown key; expected {' or '.join(CLASS_KEYS)}",
                                (*where, str(unknown[0])))
        guideline = body.get("guideline", "")
        if not isinstance(guideline, str):
            raise TaxonomyError(f"classes.{name}.guideline: expected text, got {type(guideline).__name__}",
                                (*where, "guideline"))
        aliases = body.get("aliases", [])
        if not (isinstance(aliases, list) and all(isinstance(alias, str) for alias in aliases)):
            raise TaxonomyError(f"classes.{name}.aliases: expected a list of strings, got {aliases!r:.80}",
                                (*where, "aliases"))
        classes.append(ClassSpec(str(name), guideline.strip(), tuple(aliases)))
    mappings = []
    for model_id, body in _table(document.get("models", {}), ("models",)).items():
        for model_class, target in _table(body, ("models", str(model_id))).items():
            if not isinstance(target, str):
                raise TaxonomyError(f"models.{model_id}.{model_class}: expected the name of a class, got "
                                    f"{target!r:.80}", ("models", str(model_id), str(model_class)))
            mappings.append((str(model_id), str(model_class), target))
    return TaxonomyFile(tuple(classes), tuple(mappings))


def merge(current: Taxonomy, imported: TaxonomyFile, replace: bool) -> Taxonomy:
    taxonomy = Taxonomy(imported.classes) if replace else current
    if not replace:
        for spec in imported.classes:
            taxonomy = taxonomy.with_class(spec)
    for model_id, model_class, target in imported.mappings:
        try:
            taxonomy = taxonomy.with_mapping(model_id, model_class, target)
        except TaxonomyError as exc:
            raise type(exc)(f"models.{model_id}.{model_class}: {exc}", ("models", model_id, model_class)) from None
    return taxonomy


def dump(taxonomy: Taxonomy, kind: str) -> str:
    """The taxonomy as a file of ``kind`` (``toml`` or ``yaml``) that :func:`read` takes back."""
    document = {"classes": {spec.name: {"guideline": spec.guideline, "aliases": list(spec.aliases)}
                            for spec in taxonomy.classes},
                "models": _mappings_by_model(taxonomy)}
    if kind == "yaml":
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return ("# edgelabel class taxonomy: edgelabel-collector classes import FILE --data-dir DIR\n\n"
            + tomli_w.dumps(document))


# --- helpers ---------------------------------------------------------------------------------------


def _load(text: str, kind: str, path: Path) -> object:
    if kind == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # its message ends "(at line N, column M)"
            raise TaxonomyFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TaxonomyFileError(f"{path}{where}: not valid YAML: {problem}") from None


def _table(value: object, path: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise TaxonomyError(f"{'.'.join(path)}: expected a table, got {type(value).__name__} {value!r:.80}", path)
    return value


def _mappings_by_model(taxonomy: Taxonomy) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for (model_id, model_class), target in sorted(taxonomy.mappings.items()):
        out.setdefault(model_id, {})[model_class] = target
    return out


class _LineFinder:
    """The line where a key path (``("classes", "pedestrian", "aliases")``) is written."""

    def __init__(self, text: str, kind: str):
        self.text, self.kind = text, kind

    def line_of(self, path: tuple[str, ...]) -> int | None:
        if not path:
            return None
        try:
            return self._yaml_line(path) if self.kind == "yaml" else self._toml_line(path)
        except yaml.YAMLError:
            return None

    def _yaml_line(self, path: tuple[str, ...]) -> int | None:
        node, line = yaml.compose(self.text), None
        for key in path:
            if not isinstance(node, yaml.MappingNode):
                return line
            found = next(((k, v) for k, v in node.value if str(k.value) == key), None)
            if found is None:
                return line
            line, node = found[0].start_mark.line + 1, found[1]
        return line

    def _toml_line(self, path: tuple[str, ...]) -> int | None:
        # Tables are headers ([classes.pedestrian]); the last part of the path may be a key in it.
        lines = self.text.splitlines()
        for depth in range(len(path), 0, -1):
            header = self._header_line(lines, path[:depth])
            if header is None:
                continue
            if depth == len(path):
                return header + 1
            key = _unquote(path[depth])
            for index in range(header + 1, len(lines)):
                stripped = lines[index].strip()
                if stripped.startswith("["):
                    break
                if "=" in stripped and _unquote(stripped.split("=", 1)[0]) == key:
                    return index + 1
            return header + 1
        return None

    @staticmethod
    def _header_line(lines: list[str], path: tuple[str, ...]) -> int | None:
        wanted = ".".join(_unquote(part) for part in path)
        for index, line in enumerate(lines):
            stripped = line.split("#", 1)[0].strip()
            if stripped.startswith("[") and stripped.endswith("]") and not stripped.startswith("[["):
                parts = [_unquote(p) for p in _split_dotted(stripped[1:-1])]
                if ".".join(parts) == wanted:
                    return index
        return None


def _split_dotted(key: str) -> list[str]:
    return re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.\s]+', key)


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
        return part[1:-1]
    return part
