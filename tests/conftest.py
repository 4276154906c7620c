"""Session fixtures: offline, single-threaded torch, a tiny random-weight CLIP model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_COLOR", "1")

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _torch_one_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(1)


@pytest.fixture
def quiet_console():
    """No progress bars or info lines from stages run in-process (modules opt in with usefixtures)."""
    from labelclean.core import console

    console.set_quiet(True)
    yield
    console.set_quiet(False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random-weight open_clip model as a local-dir folder: pass `local-dir:<path>`."""
    from tinyclip import build_tiny_local_dir

    return build_tiny_local_dir(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir) -> str:
    """The --model value users would pass for the tiny test model."""
    return f"local-dir:{tiny_model_dir}"


@pytest.fixture(scope="session")
def imagenette_tar() -> Path:
    tar = SHARED_DATA / "imagenette-1k.tar"
    if not tar.exists():
        pytest.skip(f"{tar} is absent")
    return tar
