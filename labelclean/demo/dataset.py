"""Write a labelled demo image folder with injected label noise, keeping the truth.

Layout written under ``out_dir``::

    images/<given label>/<id>.png   given label = folder name (noisy for flipped samples)
    truth.csv                       path (relative to images/), label (given), clean_label

Everything is a function of ``seed``: the same arguments give byte-identical files.

Two domains (:data:`DOMAINS`): ``easy`` renders images the way the bundled model was trained
on them and flips labels symmetrically (any other class); ``hard`` renders them with a domain
gap (:mod:`labelclean.demo.hard`) and flips labels between classes that look alike (each
class to its same-colour sibling, as ``labelclean noise --mode asym`` does with a mapping).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelclean.demo.domain import CLASSES, render_indexed
from labelclean.core.errors import InputError, UsageError

TRUTH_COLUMNS = ("path", "label", "clean_label")
DOMAINS = ("easy", "hard")
"""``easy``: the bundled model's own render style, symmetric noise; ``hard``: domain gap, similar-class noise."""


@dataclass(frozen=True)
class DemoDataset:
    """Where a generated demo dataset lives and how much noise it has."""

    images_dir: Path  # ImageFolder root: images/<given label>/<id>.png
    truth_csv: Path  # path, label (given, noisy), clean_label
    n_flipped: int  # samples whose given label differs from the clean one
    classes: list[str]  # class (folder) names in label-id order
    domain: str = "easy"  # one of DOMAINS


def flip_labels(clean: np.ndarray, n_flip: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Symmetric label noise: exactly ``n_flip`` labels moved to a different class, uniformly.

    Parameters
    ----------
    clean : ndarray of int, shape (N,)
        True class ids in ``[0, n_classes)``.
    n_flip : int
        How many samples get a wrong label (``0 <= n_flip <= N``).
    n_classes : int
        Number of classes (at least 2).
    rng : numpy.random.Generator
        Source of randomness (which samples, and which wrong class).

    Returns
    -------
    ndarray of int, shape (N,)
        Given labels; ``given != clean`` for exactly ``n_flip`` samples.
    """
    given = clean.copy()
    idx = rng.choice(len(clean), size=n_flip, replace=False)
    given[idx] = (clean[idx] + rng.integers(1, n_classes, size=n_flip)) % n_classes
    return given


def hard_noise(clean: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Similar-class noise: in every class, ``round(rate * n_c)`` labels moved to its same-colour sibling.

    The pairs are :data:`labelclean.demo.hard.SIMILAR_PAIRS` (both directions), applied with
    :func:`labelclean.evaluation.noise.asymmetric_noise`.
    """
    from labelclean.demo.hard import pair_mapping
    from labelclean.evaluation.noise import asymmetric_noise, mapping_from_names

    mapping = mapping_from_names(pair_mapping(), CLASSES)
    seed = int(rng.integers(2**31))
    return asymmetric_noise(clean, mapping, n_classes=len(CLASSES), rate=rate, seed=seed).labels


def _check_args(out_dir: Path, size: int, noise: float, image_size: int, overwrite: bool, domain: str) -> None:
    if domain not in DOMAINS:
        raise UsageError(f"--domain must be one of {', '.join(DOMAINS)}, got {domain!r}", "e.g. --domain hard")
    if size < len(CLASSES):
        raise UsageError(f"--size must be at least {len(CLASSES)} (one image per class), got {size}")
    if not 0.0 <= noise <= 1.0:
        raise UsageError(f"--noise must be between 0 and 1, got {noise}", "e.g. --noise 0.3")
    if image_size < 16:
        raise UsageError(f"image size must be at least 16 pixels, got {image_size}")
    images = out_dir / "images"
    if images.exists() and any(images.iterdir()) and not overwrite:
        raise InputError(
            f"{images} already exists and is not empty",
            "choose another output folder, or delete that one first",
        )


def make_demo_dataset(
    out_dir: Path, *, size: int = 5000, noise: float = 0.3, seed: int = 0, image_size: int = 64,
    overwrite: bool = False, domain: str = "easy",
) -> DemoDataset:
    """Render ``size`` demo images into an ImageFolder with about ``noise * size`` wrong labels.

    Classes are balanced (``size // 10`` or one more each). ``domain="easy"`` flips exactly
    ``round(noise * size)`` labels to any other class; ``domain="hard"`` renders with the
    domain gap and flips ``round(noise * n_c)`` labels of every class to its look-alike (see
    :func:`hard_noise`). Images, flips and file bytes are determined by ``seed`` and
    ``domain``. With ``overwrite=True`` an existing ``images/`` folder and ``truth.csv`` under
    ``out_dir`` are replaced; nothing else in ``out_dir`` is touched.
    """
    out_dir = Path(out_dir)
    _check_args(out_dir, size, noise, image_size, overwrite, domain)
    rng = np.random.default_rng([seed, 4242])
    clean = rng.permutation(np.arange(size) % len(CLASSES))
    if domain == "hard":
        from labelclean.demo.hard import render_hard_indexed as draw

        given = hard_noise(clean, noise, rng)
    else:
        draw = render_indexed
        given = flip_labels(clean, round(noise * size), len(CLASSES), rng)
    images_dir = out_dir / "images"
    if images_dir.exists():
        shutil.rmtree(images_dir)
    for name in CLASSES:
        (images_dir / name).mkdir(parents=True)
    width = max(5, len(str(size - 1)))
    rows = []
    for i in range(size):
        rel = f"{CLASSES[given[i]]}/{i:0{width}d}.png"
        image, _ = draw(CLASSES[clean[i]], seed, i, image_size)
        image.save(images_dir / rel, format="PNG", compress_level=1)
        rows.append((rel, CLASSES[given[i]], CLASSES[clean[i]]))
    truth_csv = out_dir / "truth.csv"
    with open(truth_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(rows)
    return DemoDataset(images_dir, truth_csv, int((given != clean).sum()), list(CLASSES), domain)
