"""Read a ``--classes`` file: the class order and the name prompts use for each class.

Formats, chosen by extension:

- ``.json``: an object ``{"name": "prompt name", ...}`` in the wanted order (``null`` or
  ``""`` keeps the default prompt name), or a list of names.
- ``.yaml`` / ``.yml``: the same shapes as JSON (quote names YAML would read as numbers,
  booleans or null, e.g. ``"yes"``).
- anything else (e.g. ``.txt``): one class per line, either ``name`` or
  ``name<TAB>prompt name``. Blank lines and lines starting with ``#`` are ignored; spaces
  around names are trimmed.

The default prompt name is the class name with underscores turned into spaces and runs of
whitespace collapsed (``maple_tree`` -> ``maple tree``). Names are NFC-normalised.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from labelclean.core.errors import InputError

FORMAT_HINT = (
    "write one class per line as `name` or `name<TAB>prompt name`, or a .json/.yaml mapping name -> prompt name"
)


def default_prompt_name(name: str) -> str:
    """How prompts say a class name: ``maple_tree`` -> ``maple tree``."""
    return " ".join(name.replace("_", " ").split()) or name


def read_classes_file(path: Path) -> list[tuple[str, str]]:
    """Return ``(name, prompt_name)`` pairs in file order.

    Raises
    ------
    InputError
        When the file is missing, unparsable, empty, or lists a name twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError(f"cannot read the classes file {path}: {e.strerror or e}", FORMAT_HINT) from e
    except UnicodeDecodeError as e:
        raise InputError(f"the classes file {path} is not UTF-8 text", FORMAT_HINT) from e
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        pairs = _from_structured(_parse_structured(text, path, suffix), path)
    else:
        pairs = _from_lines(text)
    return _validated(pairs, path)


def _parse_structured(text: str, path: Path, suffix: str) -> Any:
    try:
        if suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise InputError(f"the classes file {path} is not valid JSON: {e}", FORMAT_HINT) from e
    except yaml.YAMLError as e:
        raise InputError(f"the classes file {path} is not valid YAML: {e}", FORMAT_HINT) from e


def _from_structured(obj: Any, path: Path) -> list[tuple[str, str | None]]:
    if obj is None:
        return []
    if isinstance(obj, dict):
        return [(_name(k, path), _prompt(v, k, path)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [(_name(k, path), None) for k in obj]
    raise InputError(
        f"the classes file {path} must hold a mapping or a list, not {type(obj).__name__}", FORMAT_HINT
    )


def _name(value: Any, path: Path) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"the classes file {path} has a class name that is not text: {value!r}", "quote it")
    return str(value)


def _prompt(value: Any, key: Any, path: Path) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InputError(
        f"the classes file {path} gives class {key!r} a prompt name that is not text: {value!r}",
        "map each class name to a prompt name string (or null for the default)",
    )


def _from_lines(text: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, prompt = line.partition("\t")
        pairs.append((name, prompt))
    return pairs


def _validated(pairs: list[tuple[str, str | None]], path: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw_name, raw_prompt in pairs:
        name = unicodedata.normalize("NFC", raw_name.strip())
        if not name:
            raise InputError(f"the classes file {path} has an empty class name", FORMAT_HINT)
        if name in seen:
            raise InputError(f"the classes file {path} lists {name!r} twice", "keep one line per class")
        seen.add(name)
        prompt = " ".join((raw_prompt or "").split())
        out.append((name, unicodedata.normalize("NFC", prompt) or default_prompt_name(name)))
    if not out:
        raise InputError(f"the classes file {path} lists no classes", FORMAT_HINT)
    return out
