"""labelclean.model.prompts and the bundled template and description files."""

from __future__ import annotations

import pytest
import yaml

from labelclean.core.errors import InputError
from labelclean.model.prompts import (
    Prompt,
    build_prompts,
    indefinite_article,
    list_prompt_sets,
    load_descriptions,
    load_templates,
    missing_description_classes,
    render_template,
)
from labelclean.ingest.types import ClassInfo
from labelclean.core.templates import template_path

CIFAR10 = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR100 = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()


def classes(names):
    return [ClassInfo(i, n, n.replace("_", " ")) for i, n in enumerate(names)]


def test_bundled_sets_are_listed():
    sets = list_prompt_sets()
    assert {"simple", "imagenet80"} <= set(sets["templates"])
    assert {"cifar10", "cifar100"} <= set(sets["descriptions"])


def test_simple_template():
    assert template_path("prompts", "simple.txt").read_text().strip() == "a photo of a {}."
    prompts = build_prompts(classes(["cat", "maple_tree"]))
    assert prompts == [
        Prompt(0, "a photo of a cat.", "templates:simple"),
        Prompt(1, "a photo of a maple tree.", "templates:simple"),
    ]


def test_imagenet80_has_80_distinct_templates_with_one_slot():
    lines = template_path("prompts", "imagenet80.txt").read_text().splitlines()
    assert len(lines) == 80 and len(set(lines)) == 80
    assert all(line.count("{}") == 1 for line in lines)
    assert load_templates("imagenet80").templates == tuple(lines)
    assert "itap of a {}." in lines and "a {} in a video game." in lines


@pytest.mark.parametrize(("name", "expected"), [("cifar10", CIFAR10), ("cifar100", CIFAR100)])
def test_cifar_descriptions_cover_every_class(name, expected):
    raw = yaml.safe_load(template_path("descriptions", f"{name}.yaml").read_text())
    assert raw["suffix"] == "."
    assert list(raw["classes"]) == expected
    for cls, clauses in raw["classes"].items():
        assert 5 <= len(clauses) <= 8, cls
        assert all(c.startswith("which ") and not c.endswith(".") for c in clauses), cls
        assert len(set(clauses)) == len(clauses), cls
    assert missing_description_classes(classes(expected), name) == []


def test_description_prompts_and_fallback():
    cls = classes(["apple", "maple_tree", "unicorn"])
    prompts = build_prompts(cls, descriptions="cifar100")
    by_class = {i: [p for p in prompts if p.class_id == i] for i in range(3)}
    assert by_class[0][0] == Prompt(
        0, "a photo of an apple which is a round fruit with red, green or yellow skin.", "descriptions:cifar100"
    )
    assert all(p.text.startswith("a photo of a maple tree which ") for p in by_class[1])
    assert by_class[2] == [Prompt(2, "a photo of a unicorn.", "templates:simple")]
    assert [c.name for c in missing_description_classes(cls, "cifar100")] == ["unicorn"]
    assert [p.class_id for p in prompts] == sorted(p.class_id for p in prompts)


def test_description_keys_match_name_prompt_name_or_loosely(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text('suffix: ", a kind of thing."\nclasses:\n  Maple Tree: ["which is red."]\n  n01: [which swims]\n')
    cls = [ClassInfo(0, "maple_tree", "maple tree"), ClassInfo(1, "fish", "n01")]
    prompts = build_prompts(cls, descriptions=str(path))
    assert [p.text for p in prompts] == [
        "a photo of a maple tree which is red, a kind of thing.",
        "a photo of a n01 which swims, a kind of thing.",
    ]
    assert prompts[0].source == f"descriptions:{path.resolve()}"


def test_custom_template_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my prompts\n\na {} seen from above.\n  an old photo of the {}.  \n")
    prompts = build_prompts(classes(["owl", "cat"]), templates=str(path))
    assert [p.text for p in prompts] == [
        "an owl seen from above.",
        "an old photo of the owl.",
        "a cat seen from above.",
        "an old photo of the cat.",
    ]
    assert {p.source for p in prompts} == {f"templates:{path.resolve()}"}


@pytest.mark.parametrize(
    ("name", "article"),
    [("apple", "an"), ("elephant", "an"), ("hour glass", "an"), ("unicorn", "a"), ("umbrella", "an"),
     ("one-way sign", "a"), ("european robin", "a"), ("cat", "a"), ("Orange", "an"), ("", "a")],
)
def test_indefinite_article(name, article):
    assert indefinite_article(name) == article


def test_article_is_fixed_only_directly_before_the_slot():
    assert render_template("a origami {}.", "apple") == "a origami apple."
    assert render_template("A {} in a video game.", "owl") == "An owl in a video game."
    assert render_template("itap of a {}.", "apple") == "itap of an apple."
    assert render_template("a photo of the {}.", "apple") == "a photo of the apple."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a photo of a {class}.\n", "line 1 of the template file"),
        ("ok {}\n{} and {}\n", "line 2 of the template file"),
        ("# only comments\n\n", "has no templates"),
    ],
)
def test_bad_template_files(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_templates(str(path))
    assert message in err.value.message and str(path) in err.value.message


def test_unknown_bundled_names_list_the_choices():
    with pytest.raises(InputError, match="unknown templates set 'nope'; bundled: .*imagenet80.*simple"):
        load_templates("nope")
    with pytest.raises(InputError, match="unknown descriptions set 'nope'; bundled: .*cifar10"):
        load_descriptions("nope")
    with pytest.raises(InputError, match="does not exist"):
        load_templates("missing/file.txt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("classes: [a, b]\n", "no `classes:` mapping"),
        ("just text\n", "no `classes:` mapping"),
        ("classes:\n  cat: []\n", "non-empty list of text clauses"),
        ("classes:\n  cat: which purrs\n", "non-empty list of text clauses"),
        ("suffix: 3\nclasses:\n  cat: [which purrs]\n", "`suffix`"),
        ("classes:\n  cat_x: [which purrs]\n  Cat X: [which meows]\n", "describes a class twice: cat x"),
        ("classes: {cat: [which purrs]\n", "not valid YAML"),
    ],
)
def test_bad_description_files(tmp_path, content, message):
    path = tmp_path / "d.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_descriptions(str(path))
    assert message in err.value.message and str(path) in err.value.message


def test_prompts_are_deterministic():
    cls = classes(CIFAR10)
    assert build_prompts(cls, templates="imagenet80", descriptions="cifar10") == build_prompts(
        cls, templates="imagenet80", descriptions="cifar10"
    )
    assert len(build_prompts(cls, descriptions="cifar10")) == 78
    assert len(build_prompts(cls, templates="imagenet80")) == 800
