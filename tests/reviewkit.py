"""A selected work directory with real images *and* embeddings, for the review app's tests,
plus a helper that starts `labelclean review --serve` in a subprocess and reads its URL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from labelclean.store import parquet_io, schemas
from reportgen import Fixture, make_selected_workdir

REPO = Path(__file__).resolve().parent.parent


def make_review_workdir(root: Path, **kwargs) -> Fixture:
    """`reportgen.make_selected_workdir` plus an embeddings part file whose vectors sit near
    the *true* class (so a suspect's nearest neighbours mostly carry the right label)."""
    fx = make_selected_workdir(root, **kwargs)
    rng = np.random.default_rng(7)
    k = len(fx.classes)
    dim = max(8, k + 4)
    ids = fx.sample_ids
    X = rng.normal(0, 0.25, (len(ids), dim)).astype(np.float32)
    X[np.arange(len(ids)), [fx.classes.index(fx.true_label[s]) for s in ids]] += 1.0
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    n = len(ids)
    table = pa.table(
        {
            "sample_id": ids,
            "sha256": pa.array([None] * n, pa.string()),
            "status": ["ok"] * n,
            "detail": pa.array([None] * n, pa.string()),
            "width": pa.array([48] * n, pa.int32()),
            "height": pa.array([48] * n, pa.int32()),
            "embedding": parquet_io.fixed_list(X, pa.float32()),
        },
        schema=schemas.embeddings_schema(dim, pa.float32()),
    )
    fx.wd.embeddings_dir.mkdir(parents=True, exist_ok=True)
    parquet_io.write_table(fx.wd.embeddings_dir / "part-00000-00000.parquet", table, "embeddings", "test-model")
    return fx


class Server:
    """`labelclean review -w W --serve --no-browser --port 0` in a subprocess."""

    def __init__(self, workdir: Path, *extra: str, timeout: float = 60.0):
        env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
        cmd = [sys.executable, "-m", "labelclean", "review", "-w", str(workdir), "--serve", "--no-browser",
               "--port", "0", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        self.url = self._read_url(timeout)
        m = re.match(r"(http://[^/]+)/\?token=(\S+)$", self.url)
        self.base, self.token = m.group(1), m.group(2)

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("http://"):
                return line.strip()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()[-3000:]}")
        raise RuntimeError("server printed no URL in time")

    def kill(self) -> None:
        """SIGKILL, as if the machine lost power: nothing gets a chance to flush."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
