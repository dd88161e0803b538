"""Downloading a dataset's official files: every mirror in turn, verified, stored atomically.

Each file streams (with a progress bar on stderr) into a temporary file in the destination
folder, is checked against its published length and md5 (and sha256 where known), and only
then is moved into place with ``os.replace``. Whatever goes wrong (a dead mirror, a
truncated body, a checksum mismatch, Ctrl-C) the temporary file is removed and the next
mirror is tried, so the destination never holds a partial or unverified file.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import DownloadError
from .registry import DatasetInfo, RemoteFile

_CHUNK = 1 << 20


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stream(url: str, out, desc: str, progress: bool, timeout: float) -> tuple[str, str]:
    """Copy ``url`` into the open file ``out``; return its (md5, sha256). Raises on a short body."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.length
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                  disable=not progress, file=sys.stderr, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received < total:
        raise DownloadError(f"{url}: truncated: got {received} of {total} bytes")
    return md5.hexdigest(), sha256.hexdigest()


def _describe(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP error {err.code} ({err.reason})"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    return f"{type(err).__name__}: {err}"


def fetch(url: str, dest: Path, remote: RemoteFile, progress: bool = True, timeout: float = 60) -> None:
    """Download ``url`` to ``dest`` if its checksums match ``remote``'s; else raise DownloadError.

    Nothing is left at ``dest`` or beside it unless the file is complete and verified.
    """
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            md5, sha256 = _stream(url, out, remote.name, progress, timeout)
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
