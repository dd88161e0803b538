"""Downloads from hostile or broken servers (issue 17, section 4), against a local HTTP server
only: an endless body, a trickle of bytes, and SIGTERM in the middle. Every server loop is
bounded and each test ends by itself within seconds."""
import http.server
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from scratchnet.data import DownloadError
import scratchnet.data.download as download
from scratchnet.data.registry import RemoteFile


class Server:
    """``/endless``: 64 KB chunks of zeros, up to 64 MB, no Content-Length; ``/trickle``: one
    byte every 0.1 s for at most 15 s."""

    def __init__(self):
        self.sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                try:
                    if self.path == "/endless":
                        for _ in range(1024):
                            self.wfile.write(bytes(65536))
                            server.sent += 65536
                    else:
                        for _ in range(150):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(0.1)
                except OSError:
                    pass  # the client gave up, as it should
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def parts(folder):
    return sorted(p.name for p in folder.iterdir())


def test_an_endless_body_stops_at_the_published_size(server, tmp_path):
    remote = RemoteFile("file.gz", md5="0" * 32, size=100_000)
    with pytest.raises(DownloadError, match="goes on past the 100000 bytes expected"):
        download.fetch(f"{server.url}/endless", tmp_path / "file.gz", remote, progress=False)
    assert parts(tmp_path) == [] and server.sent < 16 << 20


def test_without_a_published_size_the_general_cap_applies(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", 1 << 20)
    with pytest.raises(DownloadError, match=f"goes on past the {1 << 20} bytes expected"):
        download.fetch(f"{server.url}/endless", tmp_path / "file.gz", RemoteFile("file.gz", "0" * 32), progress=False)
    assert parts(tmp_path) == []


def test_a_trickling_server_meets_the_overall_time_limit(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(DownloadError, match="too slow"):
        download.fetch(f"{server.url}/trickle", tmp_path / "file.gz", RemoteFile("file.gz", "0" * 32),
                       progress=False, timeout=5, time_limit=1.0)
    assert time.monotonic() - started < 5 and parts(tmp_path) == []


def test_sigterm_during_a_download_leaves_no_part_file(server, tmp_path):
    code = ("import sys\nfrom pathlib import Path\nfrom scratchnet.data import download\n"
            "from scratchnet.data.registry import RemoteFile\n"
            "download.fetch(sys.argv[1], Path(sys.argv[2]), RemoteFile('file.gz', '0' * 32), progress=False)\n")
    process = subprocess.Popen([sys.executable, "-c", code, f"{server.url}/trickle", str(tmp_path / "file.gz")],
                               stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # wait (at most 20 s) for the temporary file to appear
            if parts(tmp_path):
                break
            time.sleep(0.1)
        assert [name.endswith(".part") for name in parts(tmp_path)] == [True]
        time.sleep(0.3)  # some bytes received
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert status == 128 + signal.SIGTERM and parts(tmp_path) == []
    assert "Traceback" not in process.stderr.read()


def test_the_sigterm_handler_is_put_back_afterwards(server, tmp_path):
    with pytest.raises(DownloadError):
        download.fetch(f"{server.url}/endless", tmp_path / "f", RemoteFile("f", "0" * 32, size=10), progress=False)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert os.listdir(tmp_path) == []
