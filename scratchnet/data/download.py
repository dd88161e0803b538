"""Downloading a dataset's official files: every mirror in turn, verified, stored atomically.

Each file streams (with a progress bar on stderr) into a temporary file in the destination
folder, is checked against its published length and md5 (and sha256 where known), and only
then is moved into place with ``os.replace``. Whatever goes wrong (a dead mirror, a
truncated body, a checksum mismatch, Ctrl-C or SIGTERM) the temporary file is removed and
the next mirror is tried (or the process ends), so the destination never holds a partial or
unverified file.

A server cannot make a download endless: the body stops at the file's published size (or
MAX_DOWNLOAD_BYTES where no size is recorded), and ``time_limit`` bounds the whole file, not
each read, so a server trickling a byte every few seconds is given up on too.

Some mirrors are plain http (MNIST's and Fashion-MNIST's own): acceptable because nothing
downloaded is used before its md5 (and sha256 where published) matches the registry's, so a
tampered or damaged body is refused like a truncated one; https mirrors are listed first.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import DownloadError
from .registry import DatasetInfo, RemoteFile

_CHUNK = 1 << 20
MAX_DOWNLOAD_BYTES = 256 << 20  # above every registry file (CIFAR-10's 163 MiB): the cap where no size is known
TIME_LIMIT = 3600.0  # seconds for one file from one mirror, in all


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stream(url: str, out, desc: str, progress: bool, timeout: float, size: int | None,
            time_limit: float) -> tuple[str, str]:
    """Copy ``url`` into the open file ``out``; return its (md5, sha256). Raises DownloadError on a
    short body, a body over ``size`` (or MAX_DOWNLOAD_BYTES), or when ``time_limit`` passes."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    cap = size if size is not None else MAX_DOWNLOAD_BYTES
    deadline = time.monotonic() + time_limit
    received = 0
    with urllib.request.urlopen(url, timeout=min(timeout, time_limit)) as response:
        total = response.length
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                  disable=not progress, file=sys.stderr, leave=False) as bar:
            while chunk := response.read1(_CHUNK):  # returns what arrived: the deadline is checked often
                received += len(chunk)
                if received > cap:
                    raise DownloadError(f"{url}: the body goes on past the {cap} bytes expected")
                if time.monotonic() > deadline:
                    raise DownloadError(f"{url}: too slow: {received} bytes in {time_limit:g} s")
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                bar.update(len(chunk))
    if total is not None and received < total:
        raise DownloadError(f"{url}: truncated: got {received} of {total} bytes")
    if size is not None and received != size:
        raise DownloadError(f"{url}: got {received} bytes; the published file has {size}")
    return md5.hexdigest(), sha256.hexdigest()


@contextlib.contextmanager
def _sigterm_raises():
    """Within the block, SIGTERM raises SystemExit (so ``finally`` and ``except`` clauses remove
    temporary files) where it would otherwise end the process at once; only in the main thread,
    the one that receives signals, and only when no other handler was installed."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _describe(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP error {err.code} ({err.reason})"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    return f"{type(err).__name__}: {err}"


def fetch(url: str, dest: Path, remote: RemoteFile, progress: bool = True, timeout: float = 60,
          time_limit: float = TIME_LIMIT) -> None:
    """Download ``url`` to ``dest`` if its checksums match ``remote``'s; else raise DownloadError.

    Nothing is left at ``dest`` or beside it unless the file is complete and verified, also
    when the process gets SIGTERM meanwhile (it then exits with status 143).
    """
    with _sigterm_raises():
        _fetch(url, dest, remote, progress, timeout, time_limit)


def _fetch(url: str, dest: Path, remote: RemoteFile, progress: bool, timeout: float, time_limit: float) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            md5, sha256 = _stream(url, out, remote.name, progress, timeout, remote.size, time_limit)
        if md5 != remote.md5:
            raise DownloadError(f"{url}: md5 {md5} does not match the published {remote.md5}")
        if remote.sha256 and sha256 != remote.sha256:
            raise DownloadError(f"{url}: sha256 {sha256} does not match the published {remote.sha256}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        os.unlink(tmp)
        raise DownloadError(f"{url}: {_describe(err)}") from None
    except BaseException:
        os.unlink(tmp)
        raise


def download(info: DatasetInfo, dest_dir: str | Path, progress: bool = True, timeout: float = 60) -> Path:
    """Fetch every file of ``info`` into ``dest_dir`` (files already there and verified are kept).

    Tries each mirror in order per file; raises DownloadError listing every mirror's failure.
    """
    dest_dir = Path(dest_dir)
    if dest_dir.exists() and not dest_dir.is_dir():
        raise DownloadError(f"{dest_dir} is a file, not a folder; give a folder to download {info.name} into")
    created = not dest_dir.exists()
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        for remote in info.files:
            _download_file(remote, info.mirrors, dest_dir / remote.name, progress, timeout)
    except BaseException:
        if created and not any(dest_dir.iterdir()):
            dest_dir.rmdir()  # a failed first download leaves not even an empty folder
        raise
    return dest_dir


def _download_file(remote: RemoteFile, mirrors: tuple[str, ...], dest: Path, progress: bool, timeout: float) -> None:
    """``dest`` from the first mirror that serves it intact (kept if already there and verified)."""
    if dest.is_file() and md5sum(dest) == remote.md5:
        return
    failures = []
    for mirror in mirrors:
        try:
            fetch(mirror + remote.name, dest, remote, progress, timeout)
            return
        except DownloadError as err:
            failures.append(str(err))
            if progress:
                print(f"scratchnet: download failed: {err}", file=sys.stderr)
    raise DownloadError(f"could not download {remote.name} from any mirror:\n    " + "\n    ".join(failures))
