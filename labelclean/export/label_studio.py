"""`export --format label-studio`: the suspects as Label Studio tasks, with pre-annotations.

Writes two files to OUT:

- ``label-studio-tasks.json``: one task per suspect (every sample select did not find
  clean), worst first. ``data.image`` is a Label Studio local-files URL,
  ``/data/local-files/?d=<path relative to the data root>``; ``data`` also carries
  ``sample_id``, ``given_label``, ``suggested_label``, ``clean_score`` and ``failed``. Two
  pre-annotations (``predictions``) per task: labelclean's suggestion scored by its
  confidence (when there is one), and the given label scored by ``clean_score``.
- ``label-studio-config.xml``: the labelling interface: the image, a single-choice ``label``
  over every class, and a ``drop`` choice ("not a valid image of any class").

Serve the images to Label Studio with local storage: start it with
``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<data root>``, add a Local Files source storage whose
path is the data root, then import the tasks. Its JSON export reads back as decisions with
``labelclean review -w W --decisions export.json`` (see review/label_studio.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np
import pyarrow as pa

from labelclean import __version__
from labelclean.review.label_studio import DROP_CHOICE, DROP_CONTROL, IMAGE_OBJECT, LABEL_CONTROL
from labelclean.ingest.types import ClassInfo

TASKS_FILE = "label-studio-tasks.json"
CONFIG_FILE = "label-studio-config.xml"
LOCAL_FILES_PREFIX = "/data/local-files/?d="


def image_url(sample_id: str, path: str, data_root: str | None) -> str:
    """The local-files URL of one image, relative to the data root when it lies inside it."""
    rel = sample_id
    if data_root is not None and os.path.isabs(path):
        inside = os.path.relpath(path, data_root)
        rel = inside if not inside.startswith("..") else path.lstrip("/")
    return LOCAL_FILES_PREFIX + quote(rel.replace(os.sep, "/"), safe="/")


def build_tasks(eff: pa.Table, manifest: pa.Table, classes: list[ClassInfo], data_root: str | None) -> list[dict]:
    """One task per sample that select did not find clean, lowest clean_score first."""
    names = {c.id: c.name for c in classes}
    path_of = dict(zip(manifest["sample_id"].to_pylist(), manifest["path"].to_pylist()))
    cols = {c: eff[c].to_pylist() for c in ("sample_id", "label_id", "clean", "clean_score", "failed",
                                            "suggested_label_id", "suggested_confidence")}
    rows = [i for i, c in enumerate(cols["clean"]) if not c]
    score = np.asarray([np.inf if cols["clean_score"][i] is None else cols["clean_score"][i] for i in rows])
    order = [rows[j] for j in np.lexsort((np.asarray([cols["sample_id"][i] for i in rows], dtype=object), score))] \
        if rows else []
    tasks = []
    for i in order:
        sid = cols["sample_id"][i]
        given = names.get(cols["label_id"][i])
        sugg_id = cols["suggested_label_id"][i]
        sugg = names.get(sugg_id) if sugg_id is not None else None
        conf, cs = cols["suggested_confidence"][i], cols["clean_score"][i]
        data = {
            "image": image_url(sid, path_of.get(sid, sid), data_root),
            "sample_id": sid,
            "given_label": given,
            "suggested_label": sugg,
            "clean_score": _round(cs),
            "failed": cols["failed"][i] or "",
        }
        predictions = []
        if sugg is not None:
            predictions.append(_prediction(f"labelclean-{__version__}-suggestion", sugg, conf))
        if given is not None:
            predictions.append(_prediction("given-label", given, cs))
        tasks.append({"data": data, "predictions": predictions})
    return tasks


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _prediction(model_version: str, choice: str, score: float | None) -> dict:
    return {
        "model_version": model_version,
        "score": _round(score),
        "result": [{"from_name": LABEL_CONTROL, "to_name": IMAGE_OBJECT, "type": "choices",
                    "value": {"choices": [choice]}, "score": _round(score)}],
    }


def config_xml(classes: list[ClassInfo]) -> str:
    """The labelling interface for these tasks (class names escaped as XML attributes)."""
    choices = "\n".join(f"    <Choice value={quoteattr(c.name)}/>" for c in classes)
    return (
        "<View>\n"
        f'  <Image name="{IMAGE_OBJECT}" value="$image" zoom="true"/>\n'
        '  <Header value="Given: $given_label, suggested: $suggested_label"/>\n'
        f'  <Choices name="{LABEL_CONTROL}" toName="{IMAGE_OBJECT}" choice="single" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        f'  <Choices name="{DROP_CONTROL}" toName="{IMAGE_OBJECT}" choice="single">\n'
        f"    <Choice value={quoteattr(DROP_CHOICE)}/>\n"
        "  </Choices>\n"
        "</View>\n"
    )


def files(tasks: list[dict], classes: list[ClassInfo]) -> dict[str, bytes]:
    """{file name: content} for OUT, byte-stable for the same inputs."""
    body = json.dumps(tasks, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    return {TASKS_FILE: body.encode("utf-8"), CONFIG_FILE: config_xml(classes).encode("utf-8")}

