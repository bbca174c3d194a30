"""Deterministic XML writing for the VOC and CVAT writers (attributes in the order given)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def element(tag: str, text: object = None, **attributes: object) -> ET.Element:
    node = ET.Element(tag, {key: _text(value) for key, value in attributes.items()})
    if text is not None:
        node.text = _text(text)
    return node


def child(parent: ET.Element, tag: str, text: object = None, **attributes: object) -> ET.Element:
    node = element(tag, text, **attributes)
    parent.append(node)
    return node


def write_xml(path: Path, root: ET.Element) -> None:
    ET.indent(root, space="  ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
