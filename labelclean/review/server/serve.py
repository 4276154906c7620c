"""Run the review app with uvicorn: bind, print the URL with its token, open a browser."""

from __future__ import annotations

import errno
import importlib.abc
import ipaddress
import secrets
import socket
import sys
import threading
import time
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labelclean.core import console
from labelclean.core.errors import UsageError
from labelclean.store.workdir import Workdir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765  # when busy (and not asked for explicitly), any free port


@dataclass
class ServeConfig:
    host: str = DEFAULT_HOST
    port: int | None = None  # None: 8765, or a free port when 8765 is taken
    open_browser: bool = True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on (host, port); UsageError naming --port/--host when impossible."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    tries = [port] if port is not None else [DEFAULT_PORT, 0]
    for p in tries:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, p))
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE and port is None:
                continue
            if e.errno == errno.EADDRINUSE:
                raise UsageError(f"--port {p} is already in use", "pick another --port, or --port 0 for any free one") from None
            raise UsageError(f"cannot listen on --host {host} --port {p}: {e.strerror}",
                             "use --host 127.0.0.1 (the default)") from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    raise UsageError("no free port found", "pass --port N")  # pragma: no cover - port 0 always binds


def url_for(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def _without_pandas() -> None:
    """pyarrow imports pandas (about 0.5 s) on the first array it builds, only to recognise pandas
    objects, which the app never hands it: unless something imported pandas already, mark it absent
    in this process so a reviewer does not wait for it."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


class _NoPandas(importlib.abc.MetaPathFinder):
    """Answers ``import pandas`` the way an environment without pandas does."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def serve(wd: Workdir, cfg: ServeConfig) -> None:
    """Serve the review app until Ctrl-C. Prints the URL (with token) on one stdout line when ready."""
    _without_pandas()
    from labelclean.review.server.data import ReviewData

    if not is_loopback(cfg.host):
        console.warn(f"--host {cfg.host} makes the review app reachable from other machines; anyone with the "
                     "printed URL (it holds the token) can change decisions")
    # The Parquet reads release the GIL: load the workdir while the web stack is imported.
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(ReviewData, wd)
        import uvicorn

        from labelclean.review.server.app import create_app
        from labelclean.review.server.neighbours import Neighbours
        data = loading.result()
    rows = data.view_rows("suspects")
    neighbours = Neighbours(wd, data.sample_ids.take(rows))
    neighbours.start(background=True)
    token = secrets.token_urlsafe(24)
    sock = bind(cfg.host, cfg.port)
    port = sock.getsockname()[1]
    app = create_app(data, neighbours, token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, log_config=None,
                                           timeout_graceful_shutdown=2))
    url = url_for(cfg.host, port, token)

    def announce():
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            console.info(f"reviewing {len(rows)} suspects of {len(data.given)} samples in {wd.root}; Ctrl-C stops")
            console.out(url)
            if cfg.open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
