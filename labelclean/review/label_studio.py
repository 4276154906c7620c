"""Read Label Studio's JSON export of `export --format label-studio` tasks as decisions.

Per task, the latest annotation that was not cancelled counts; tasks without one are not
reviewed. Its ``drop`` choice means ``drop``; otherwise its ``label`` choice is the class:
the given label means ``reject`` (the given label is right), any other class
``relabel:<class>``. Both Label Studio's full JSON export (tasks with ``annotations``) and
JSON-MIN (flat rows with ``sample_id`` and ``label``) are understood. The sample comes from
``data.sample_id``, else from the ``?d=`` path of ``data.image``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlparse

import pyarrow as pa

from labelclean.core.errors import InputError
from labelclean.review.decisions import parse_decision
from labelclean.store.schemas import DECISIONS
from labelclean.ingest.types import ClassInfo


# The labelling interface `export --format label-studio` writes (export/label_studio.py)
LABEL_CONTROL, DROP_CONTROL, IMAGE_OBJECT = "label", "drop", "image"
DROP_CHOICE = "drop: not a valid image of any class"


def read_label_studio(path: Path, classes: list[ClassInfo], *, path_to_id: Mapping[str, str] | None = None) -> pa.Table:
    """Label Studio JSON export -> a ``schemas.DECISIONS`` table (one row per annotated task).

    Raises InputError naming the file and task for unreadable JSON, a task without a
    sample, an unknown class, or two tasks of one sample that disagree.
    """
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"decisions file {path} does not exist", "pass Label Studio's JSON export with --decisions") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})",
                         "export the project from Label Studio as JSON") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: expected a JSON list of tasks (Label Studio's JSON export)",
                         "export the project from Label Studio as JSON or JSON-MIN")
    seen: dict[str, tuple[int, str]] = {}
    for n, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise InputError(f"{path}: task {n} is not a JSON object")
        choice = _choice(task)
        if choice is None:
            continue
        sid = _sample_id(task, path_to_id)
        if not sid:
            raise InputError(f"{path}: task {n} has an annotation but no data.sample_id or data.image",
                             "import the tasks written by `labelclean export --format label-studio`")
        text = _decision(choice, _data(task).get("given_label"))
        try:
            parse_decision(text, classes)
        except ValueError as e:
            raise InputError(f"{path}: task {n}: {e}") from None
        if sid in seen and seen[sid][1] != text:
            raise InputError(f"{path}: task {n}: conflicting decisions for {sid} (also in task {seen[sid][0]})",
                             "keep one annotated task per sample")
        seen[sid] = (n, text)
    ids = sorted(seen)
    parsed = [parse_decision(seen[s][1], classes) for s in ids]
    return pa.table({"sample_id": ids, "decision": [p.decision for p in parsed], "label": [p.label for p in parsed],
                     "source": [str(path)] * len(ids)}, schema=DECISIONS)


def _data(task: dict) -> dict:
    data = task.get("data")
    return data if isinstance(data, dict) else task  # JSON-MIN rows are flat


def _choice(task: dict) -> tuple[str, str] | None:
    """("drop", "") or ("class", name) from the task's latest valid annotation; None if none."""
    annotations = task.get("annotations")
    if annotations is None and "label" in task:  # JSON-MIN
        if task.get(DROP_CONTROL):
            return ("drop", "")
        label = task["label"]
        label = label[0] if isinstance(label, list) and label else label
        return ("class", label) if isinstance(label, str) and label else None
    live = [a for a in annotations or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not live:
        return None
    latest = max(enumerate(live), key=lambda p: (str(p[1].get("updated_at") or ""), p[0]))[1]
    label = None
    for r in latest.get("result") or []:
        choices = (r.get("value") or {}).get("choices") or []
        if r.get("from_name") == DROP_CONTROL and choices:
            return ("drop", "")
        if r.get("from_name") == LABEL_CONTROL and choices:
            label = choices[0]
    return ("class", label) if label else None


def _decision(choice: tuple[str, str], given: str | None) -> str:
    kind, name = choice
    if kind == "drop":
        return "drop"
    return "reject" if given is not None and name == given else f"relabel:{name}"


def _sample_id(task: dict, path_to_id: Mapping[str, str] | None) -> str:
    data = _data(task)
    sid = data.get("sample_id")
    if isinstance(sid, str) and sid:
        return sid
    image = data.get("image")
    if not isinstance(image, str):
        return ""
    d = parse_qs(urlparse(image).query).get("d")
    rel = d[0] if d else ""
    if path_to_id is not None and rel in path_to_id:
        return path_to_id[rel]
    return rel
