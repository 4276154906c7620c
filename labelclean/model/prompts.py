"""Text prompts per class, from template files and class-description files.

Templates (``templates/prompts/<name>.txt`` or any ``.txt`` path): one template per line
with exactly one ``{}`` where the class's prompt name goes; blank lines and lines starting
with ``#`` are ignored; no other braces are allowed. Each class gets one prompt per template.

Descriptions (``templates/descriptions/<name>.yaml`` or any ``.yaml``/``.yml`` path)::

    suffix: "."                  # optional, default "."
    classes:
      cat: ["which has whiskers and pointed ears", ...]

Keys match a class by its name, else its prompt name, else case-insensitively with ``_``
read as a space. A covered class gets one prompt per clause,
``"a photo of a {prompt_name} {clause}{suffix}"`` (trailing periods of a clause are
dropped); classes the file does not cover fall back to the templates
(`missing_description_classes` lists them so the caller can warn).

Articles: the article written directly before the class name ("a {}" in a template, and
the description prompt's "a") becomes "an" when the name starts with a vowel sound
("an apple", "an hourglass", but "a unicorn", "a one-way sign"). Other template text is
left as written (the CLIP ImageNet set says "a origami {}" and keeps it).

A bundled set is named by its file stem; a value containing a path separator or ending
in the file extension is read as a path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from labelclean.core.errors import InputError
from labelclean.ingest.types import ClassInfo
from labelclean.core.templates import template_path

TEMPLATE_SUFFIXES = (".txt",)
DESCRIPTION_SUFFIXES = (".yaml", ".yml")
DESCRIPTION_HINT = 'write `suffix: "."` and `classes:` mapping each class name to a list of clauses'
_ARTICLE_BEFORE_SLOT = re.compile(r"(?<![A-Za-z])([Aa]) \{\}")
_AN_PREFIXES = ("hour", "honest", "honor", "honour", "heir")
_A_PREFIXES = ("uni", "use", "usu", "uti", "uk", "eu", "ewe", "one", "once")


@dataclass(frozen=True)
class Prompt:
    class_id: int
    text: str
    source: str  # e.g. "templates:simple" or "descriptions:cifar10"


@dataclass(frozen=True)
class TemplateSet:
    source: str
    templates: tuple[str, ...]


@dataclass(frozen=True)
class Descriptions:
    source: str
    suffix: str
    classes: dict[str, tuple[str, ...]]  # key as written in the file -> clauses

    def clauses_for(self, cls: ClassInfo) -> tuple[str, ...] | None:
        """The clauses describing ``cls``, or None when the file does not cover it."""
        for key in (cls.name, cls.prompt_name):
            if key in self.classes:
                return self.classes[key]
        loose = {_loose(k): v for k, v in self.classes.items()}
        return loose.get(_loose(cls.name)) or loose.get(_loose(cls.prompt_name))


def list_prompt_sets() -> dict[str, list[str]]:
    """Names of the bundled template and description sets."""
    return {
        "templates": _bundled_names("prompts", TEMPLATE_SUFFIXES),
        "descriptions": _bundled_names("descriptions", DESCRIPTION_SUFFIXES),
    }


def build_prompts(
    classes: list[ClassInfo], *, templates: str = "simple", descriptions: str | None = None
) -> list[Prompt]:
    """All prompts, ordered by class id, then by template or clause order.

    Parameters
    ----------
    classes : list of ClassInfo
        The class list; ``prompt_name`` is what prompts say.
    templates : str, default="simple"
        A bundled template set name or a path to a ``.txt`` file.
    descriptions : str, optional
        A bundled description set name or a path to a YAML file. Classes it covers use
        description prompts; the others use ``templates``.
    """
    tset = load_templates(templates)
    desc = load_descriptions(descriptions) if descriptions is not None else None
    prompts: list[Prompt] = []
    for cls in classes:
        clauses = desc.clauses_for(cls) if desc is not None else None
        if clauses:
            texts = [render_description(cls.prompt_name, c, desc.suffix) for c in clauses]
            prompts += [Prompt(cls.id, text, desc.source) for text in texts]
        else:
            prompts += [Prompt(cls.id, render_template(t, cls.prompt_name), tset.source) for t in tset.templates]
    return prompts


def missing_description_classes(classes: list[ClassInfo], descriptions: str | Descriptions) -> list[ClassInfo]:
    """The classes a description set does not cover (they fall back to the templates)."""
    desc = descriptions if isinstance(descriptions, Descriptions) else load_descriptions(descriptions)
    return [c for c in classes if not desc.clauses_for(c)]


def load_templates(spec: str = "simple") -> TemplateSet:
    """Read and validate a template set (bundled name or ``.txt`` path)."""
    path, source = _locate(spec, "prompts", TEMPLATE_SUFFIXES, "templates")
    templates = []
    for n, line in enumerate(_read_text(path, "template").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.count("{}") != 1 or "{" in line.replace("{}", "") or "}" in line.replace("{}", ""):
            raise InputError(
                f"line {n} of the template file {path} must contain exactly one {{}} and no other braces: {line!r}",
                'write templates like "a photo of a {}."',
            )
        templates.append(line)
    if not templates:
        raise InputError(f"the template file {path} has no templates", 'add lines like "a photo of a {}."')
    return TemplateSet(source, tuple(templates))


def load_descriptions(spec: str) -> Descriptions:
    """Read and validate a class-description set (bundled name or YAML path)."""
    path, source = _locate(spec, "descriptions", DESCRIPTION_SUFFIXES, "descriptions")
    try:
        data = yaml.safe_load(_read_text(path, "descriptions"))
    except yaml.YAMLError as e:
        raise InputError(f"the descriptions file {path} is not valid YAML: {e}", DESCRIPTION_HINT) from e
    if not isinstance(data, dict) or not isinstance(data.get("classes"), dict) or not data["classes"]:
        raise InputError(f"the descriptions file {path} has no `classes:` mapping", DESCRIPTION_HINT)
    suffix = data.get("suffix", ".")
    if not isinstance(suffix, str):
        raise InputError(f"`suffix` in the descriptions file {path} must be text, not {suffix!r}", DESCRIPTION_HINT)
    classes = {_class_key(k, path): _clauses(k, v, path) for k, v in data["classes"].items()}
    loose = [_loose(k) for k in classes]
    clashes = sorted({k for k in loose if loose.count(k) > 1})
    if clashes:
        message = f"the descriptions file {path} describes a class twice: {', '.join(clashes)}"
        raise InputError(message, DESCRIPTION_HINT)
    return Descriptions(source, suffix, classes)


def render_template(template: str, prompt_name: str) -> str:
    """Fill ``{}`` with the class's prompt name, fixing "a" before it to "an" where needed."""
    if indefinite_article(prompt_name) == "an":
        template = _ARTICLE_BEFORE_SLOT.sub(lambda m: m.group(1) + "n {}", template)
    return template.replace("{}", prompt_name)


def render_description(prompt_name: str, clause: str, suffix: str) -> str:
    """``"a photo of a {prompt_name} {clause}{suffix}"`` with the article fixed."""
    return f"a photo of {indefinite_article(prompt_name)} {prompt_name} {clause}{suffix}"


def indefinite_article(phrase: str) -> str:
    """ "an" when ``phrase`` starts with a vowel sound (a spelling heuristic), else "a"."""
    word = phrase.strip().lower()
    if word.startswith(_AN_PREFIXES):
        return "an"
    if word.startswith(_A_PREFIXES):
        return "a"
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _locate(spec: str, folder: str, suffixes: tuple[str, ...], kind: str) -> tuple[Path, str]:
    spec = str(spec)
    if os.sep in spec or "/" in spec or spec.lower().endswith(suffixes):
        path = Path(spec).expanduser()
        if not path.is_file():
            hint = f"pass a bundled name or an existing {suffixes[0]} file"
            raise InputError(f"the {kind} file {path} does not exist", hint)
        return path, f"{kind}:{path.resolve()}"
    for suffix in suffixes:
        path = template_path(folder, spec + suffix)
        if path.is_file():
            return path, f"{kind}:{spec}"
    names = ", ".join(_bundled_names(folder, suffixes)) or "none"
    raise InputError(f"unknown {kind} set {spec!r}; bundled: {names}", f"or pass a path to a {suffixes[0]} file")


def _bundled_names(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    base = template_path(folder)
    if not base.is_dir():
        return []
    return sorted(p.stem for p in base.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _read_text(path: Path, kind: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the {kind} file {path}: {e}", "check that it is a UTF-8 text file") from e


def _class_key(key: object, path: Path) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise InputError(f"the descriptions file {path} has a class key that is not text: {key!r}", "quote it")
    return str(key)


def _clauses(key: object, value: object, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(
            f"class {key!r} in the descriptions file {path} needs a non-empty list of text clauses",
            'write e.g. `cat: ["which has whiskers", "which purrs"]`',
        )
    return tuple(" ".join(v.split()).rstrip(".") for v in value)


def _loose(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())
