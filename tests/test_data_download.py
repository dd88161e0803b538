"""Where datasets are looked for, and downloads against a real HTTP server on 127.0.0.1."""
import dataclasses
import hashlib
import http.server
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from scratchnet import cli, data
from builders import small_tmpfs
from scratchnet.data import locate, registry
from scratchnet.data import download as download_module
from scratchnet.data.download import download, fetch
from scratchnet.data.idx import write_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


pytestmark = pytest.mark.usefixtures("isolated_data_places")


def idx_files(tmp_path, seed=0) -> dict[str, bytes]:
    """The four gzip IDX files of a tiny MNIST-shaped dataset, as bytes a server can serve."""
    rng, folder = np.random.default_rng(seed), tmp_path / f"source{seed}"
    folder.mkdir()
    arrays = (rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6, dtype=np.uint8),
              rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2, dtype=np.uint8))
    return {name: write_idx(folder / name, array).read_bytes() for name, array in zip(FILES, arrays)}


class Server:
    """Serves ``routes[path] = (body, mode)``: mode "ok", "truncate" (promise more bytes than
    sent), "endless" (``body`` again and again, up to 1024 times, no Content-Length) or "trickle"
    (one byte of ``body`` every 0.1 s, for at most 15 s)."""

    def __init__(self):
        self.routes, self.hits, self.sent = {}, [], 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                if mode in ("ok", "truncate"):
                    self.send_header("Content-Length", str(len(body) + (1000 if mode == "truncate" else 0)))
                self.end_headers()
                try:
                    for piece in server.pieces(body, mode):
                        self.wfile.write(piece)
                        self.wfile.flush()
                        server.sent += len(piece)
                except OSError:
                    pass  # the client gave up, as it should
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @staticmethod
    def pieces(body, mode):
        if mode == "endless":
            yield from (body for _ in range(1024))
        elif mode == "trickle":
            for i in range(150):
                yield body[i % len(body):i % len(body) + 1]
                time.sleep(0.1)
        else:
            yield body

    def serve(self, prefix, files, mode="ok"):
        for name, body in files.items():
            self.routes[f"{prefix}{name}"] = (body, mode)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def fake_mnist(monkeypatch, server, files, mirrors):
    """Point the registry's mnist at ``mirrors`` on the local server, with ``files``' md5 and size as published."""
    info = dataclasses.replace(
        registry.DATASETS["mnist"],
        files=tuple(dataclasses.replace(r, md5=hashlib.md5(files[r.name]).hexdigest(), size=len(files[r.name]))
                    for r in registry.DATASETS["mnist"].files),
        mirrors=tuple(f"{server.url}{m}" for m in mirrors),
    )
    monkeypatch.setitem(registry.DATASETS, "mnist", info)
    return info


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_search_order_is_root_then_env_then_cache_then_debian_then_workspace(monkeypatch, tmp_path):
    info = registry.DATASETS["mnist"]
    folders = {k: tmp_path / k / "mnist" for k in ("root", "env", "cache/scratchnet", "debian", "workspace")}
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    places = [p for p, _ in locate.candidates("mnist", tmp_path / "root")]
    assert places == [tmp_path / "root", folders["root"], folders["env"], folders["cache/scratchnet"],
                      folders["debian"], folders["workspace"]]
    files = idx_files(tmp_path)
    expected = [("root argument", "root"), ("$SCRATCHNET_DATA", "env"), ("user cache", "cache/scratchnet"),
                ("Debian dataset package", "debian"), ("workspace datasets beside the checkout", "workspace")]
    for folder in folders.values():  # fill every place, then empty them from the front
        folder.mkdir(parents=True)
        for name, body in files.items():
            (folder / name).write_bytes(body)
    for origin, key in expected:
        location, _ = locate.find(info, tmp_path / "root")
        assert (location.origin, location.folder) == (origin, folders[key].resolve())
        for name in files:
            (folders[key] / name).unlink()
    location, looked = locate.find(info, tmp_path / "root")
    assert location is None and len(looked) == 6 and all("missing train-images-idx3-ubyte.gz" in line for line in looked[1:])


def test_good_download_is_verified_and_stored_atomically(monkeypatch, server, tmp_path):
    files = idx_files(tmp_path)
    server.serve("/good/", files)
    fake_mnist(monkeypatch, server, files, ["/good/"])
    ds = data.load("mnist", progress=False)
    cache = tmp_path / "cache" / "scratchnet" / "mnist"
    assert ds.source == str(cache) and ds.origin == "downloaded" and len(ds.x_train) == 6
    assert leftovers(cache) == sorted(FILES)  # no temporary files beside them
    assert all((cache / n).read_bytes() == files[n] for n in FILES)
    hits = len(server.hits)
    data.load("mnist", progress=False)  # second time: found in the cache, nothing fetched
    assert len(server.hits) == hits


def test_dead_mirror_then_good_mirror(monkeypatch, server, tmp_path, capsys):
    files = idx_files(tmp_path)
    server.serve("/good/", files)
    fake_mnist(monkeypatch, server, files, ["/dead/", "/good/"])
    download(registry.DATASETS["mnist"], tmp_path / "d", progress=True)
    assert leftovers(tmp_path / "d") == sorted(FILES)
    assert "dead/train-images-idx3-ubyte.gz: HTTP error 404" in capsys.readouterr().err
    assert [h for h in server.hits if h.startswith("/dead/")] == [f"/dead/{n}" for n in FILES]


@pytest.mark.parametrize("mode, served, problem", [
    ("ok", "other", "md5 .* does not match the published"),
    ("truncate", "same", "truncated|IncompleteRead"),
])
def test_bad_download_leaves_nothing_and_says_why(monkeypatch, server, tmp_path, mode, served, problem):
    files = idx_files(tmp_path)
    server.serve("/bad/", idx_files(tmp_path, seed=1) if served == "other" else files, mode)
    fake_mnist(monkeypatch, server, files, ["/bad/"])
    with pytest.raises(data.DownloadError, match=problem):
        download(registry.DATASETS["mnist"], tmp_path / "d", progress=False)
    assert leftovers(tmp_path / "d") == []


def test_sha256_is_checked_too(monkeypatch, server, tmp_path):
    files = idx_files(tmp_path)
    server.serve("/good/", files)
    info = fake_mnist(monkeypatch, server, files, ["/good/"])
    info = dataclasses.replace(info, files=(dataclasses.replace(info.files[0], sha256="0" * 64),))
    with pytest.raises(data.DownloadError, match="sha256"):
        download(info, tmp_path / "d", progress=False)
    assert leftovers(tmp_path / "d") == []


def test_all_mirrors_failing_lists_every_place_and_the_fix(monkeypatch, server, tmp_path):
    files = idx_files(tmp_path)
    server.serve("/bad/", files, "truncate")
    fake_mnist(monkeypatch, server, files, ["/dead/", "/bad/"])
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", root=tmp_path / "mine", progress=False)
    message = str(err.value)
    for place in (tmp_path / "mine", tmp_path / "cache" / "scratchnet" / "mnist", tmp_path / "debian" / "mnist"):
        assert str(place) in message
    assert f"{server.url}/dead/train-images-idx3-ubyte.gz" in message and f"{server.url}/bad/" in message
    assert "scratchnet datasets download mnist" in message and "SCRATCHNET_DATA" in message
    assert not (tmp_path / "mine").exists()  # not even the folder it would have created


def test_download_false_never_connects(monkeypatch, server, tmp_path):
    files = idx_files(tmp_path)
    server.serve("/good/", files)
    fake_mnist(monkeypatch, server, files, ["/good/"])
    with pytest.raises(data.DatasetNotFoundError, match="was not found locally.\nLooked in:"):
        data.load("mnist", download=False, progress=False)
    assert server.hits == []


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="known datasets: mnist, mnist-10k, fashion-mnist, kmnist, cifar-10"):
        data.load("imagenet")


def test_cli_download_fetches_into_root_and_explore_reports_failures(monkeypatch, server, tmp_path, capsys):
    files = idx_files(tmp_path)
    server.serve("/good/", files)
    fake_mnist(monkeypatch, server, files, ["/dead/", "/good/"])
    assert cli.main(["datasets", "download", "mnist", "--root", str(tmp_path / "here")]) == 0
    assert "mnist: 6 training and 2 test images, verified" in capsys.readouterr().out
    assert leftovers(tmp_path / "here") == sorted(FILES)
    fake_mnist(monkeypatch, server, files, ["/dead/"])
    assert cli.main(["datasets", "download", "mnist"]) == 1
    assert cli.main(["explore", "mnist", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "could not download train-images-idx3-ubyte.gz from any mirror" in err and "Looked in:" in err


# ---- hostile or broken servers (issue 17, section 4) ---------------------------------------

def test_an_endless_body_stops_at_the_published_size(server, tmp_path):
    server.serve("/", {"endless": bytes(65536)}, "endless")
    with pytest.raises(data.DownloadError, match="goes on past the 100000 bytes expected"):
        fetch(f"{server.url}/endless", tmp_path / "file.gz", registry.RemoteFile("file.gz", "0" * 32, size=100_000),
              progress=False)
    assert leftovers(tmp_path) == [] and server.sent < 16 << 20


def test_without_a_published_size_the_general_cap_applies(server, tmp_path, monkeypatch):
    server.serve("/", {"endless": bytes(65536)}, "endless")
    monkeypatch.setattr(download_module, "MAX_DOWNLOAD_BYTES", 1 << 20)
    with pytest.raises(data.DownloadError, match=f"goes on past the {1 << 20} bytes expected"):
        fetch(f"{server.url}/endless", tmp_path / "file.gz", registry.RemoteFile("file.gz", "0" * 32), progress=False)
    assert leftovers(tmp_path) == []


def test_a_trickling_server_meets_the_overall_time_limit(server, tmp_path):
    server.serve("/", {"trickle": b"x"}, "trickle")
    started = time.monotonic()
    with pytest.raises(data.DownloadError, match="too slow"):
        fetch(f"{server.url}/trickle", tmp_path / "file.gz", registry.RemoteFile("file.gz", "0" * 32),
              progress=False, timeout=5, time_limit=1.0)
    assert time.monotonic() - started < 5 and leftovers(tmp_path) == []


def test_sigterm_during_a_download_leaves_no_part_file(server, tmp_path):
    server.serve("/", {"trickle": b"x"}, "trickle")
    code = ("import sys\nfrom pathlib import Path\nfrom scratchnet.data.download import fetch\n"
            "from scratchnet.data.registry import RemoteFile\n"
            "fetch(sys.argv[1], Path(sys.argv[2]), RemoteFile('file.gz', '0' * 32), progress=False)\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    process = subprocess.Popen([sys.executable, "-c", code, f"{server.url}/trickle", str(dest / "file.gz")],
                               stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # wait (at most 20 s) for the temporary file to appear
            if leftovers(dest):
                break
            time.sleep(0.1)
        assert [name.endswith(".part") for name in leftovers(dest)] == [True]
        time.sleep(0.3)  # some bytes received
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert status == 128 + signal.SIGTERM and leftovers(dest) == []
    assert "Traceback" not in process.stderr.read()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # this process's handler was never touched


def test_a_download_onto_a_full_disk_leaves_no_part_file(server, tmp_path):
    server.serve("/", {"big": bytes(1 << 20)})
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        with pytest.raises(data.DownloadError, match="No space left"):
            fetch(f"{server.url}/big", disk / "big", registry.RemoteFile("big", "0" * 32, size=1 << 20),
                  progress=False)
        assert leftovers(disk) == []


def test_a_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(data.DownloadError, match="is a file, not a folder"):
        download(registry.DATASETS["mnist"], tmp_path / "f", progress=False)
