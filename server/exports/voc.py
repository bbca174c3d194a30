"""Pascal VOC: ``Annotations/<name>.xml`` per image, ``JPEGImages/``, ``ImageSets/Main/default.txt``,
``labelmap.txt`` and ``labels.txt`` (one class per line).

``labelmap.txt`` (``name:color:parts:actions`` per line, as Datumaro and CVAT write it) declares the
classes: without it those readers assume the 20 VOC classes and stop at the first other one. The
colour, parts and actions fields are left empty (boxes need none); ``background`` leads, as in VOC.

Box corners are written as pixel ``xyxy`` with two decimals, 0-based as stored (CVAT and
torchvision read them as they are). Two elements VOC readers skip carry what VOC has no place
for: ``<verified>`` (1: a reviewer's labels, 0: the model's pre-labels), ``<track_id>`` and, on a
synthetic frame, ``<synthetic>1</synthetic>``. ``<source>`` names the device, the frame id and, for a
device's frame, the model that pre-labeled it (``<model_id>``).
"""

from __future__ import annotations

from pathlib import Path

from server.exports.filter import ExportData
from server.exports.options import ExportOptions, Progress
from server.exports.writing import place_image, write_text
from server.exports.xml import child, element, write_xml

LABELMAP_FILE = "labelmap.txt"
LABELMAP_HEADER = "# label:color_rgb:parts:actions\n"
BACKGROUND = "background"


def write(data: ExportData, root: Path, options: ExportOptions, progress: Progress) -> dict[str, int]:
    boxes = 0
    for frame in progress(data.frames, len(data.frames), "voc"):
        file_name = f"{frame.stem}.jpg"
        place_image(frame.image, root / "JPEGImages" / file_name, options.link_images)
        annotation = element("annotation")
        child(annotation, "folder", "JPEGImages")
        child(annotation, "filename", file_name)
        source = child(annotation, "source")
        child(source, "database", "edgelabel")
        child(source, "device", frame.device)
        child(source, "frame_id", frame.frame_id)
        if frame.prelabel_model is not None:
            child(source, "model_id", frame.prelabel_model)
        size = child(annotation, "size")
        child(size, "width", frame.width)
        child(size, "height", frame.height)
        child(size, "depth", 3)
        child(annotation, "segmented", 0)
        child(annotation, "verified", frame.verified)
        if frame.synthetic:
            child(annotation, "synthetic", 1)
        for box in frame.boxes:
            obj = child(annotation, "object")
            child(obj, "name", box.class_name)
            child(obj, "pose", "Unspecified")
            child(obj, "truncated", 0)
            child(obj, "difficult", 0)
            if box.track_id is not None:
                child(obj, "track_id", box.track_id)
            bndbox = child(obj, "bndbox")
            for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box.xyxy):
                child(bndbox, tag, float(value))
            boxes += 1
        write_xml(root / "Annotations" / f"{frame.stem}.xml", annotation)
    write_text(root / "ImageSets" / "Main" / "default.txt", "".join(f"{frame.stem}\n" for frame in data.frames))
    write_text(root / "labels.txt", "".join(f"{name}\n" for name in data.class_names))
    labelmap = data.class_names if BACKGROUND in data.class_names else (BACKGROUND, *data.class_names)
    write_text(root / LABELMAP_FILE, LABELMAP_HEADER + "".join(f"{name}:::\n" for name in labelmap))
    return {"images": len(data.frames), "objects": boxes}
