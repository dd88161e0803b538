"""A disk that fills up, for real: a small tmpfs (skipped where mounting is not allowed). A model
file that does not fit keeps the old one, a download leaves no .part file (issue 17; run
directories on a full disk are tested with the run-file module)."""
import http.server
import threading

import pytest

import scratchnet.data.download as download
from builders import small_tmpfs, write_linear_model
from scratchnet.data import DownloadError
from scratchnet.data.registry import RemoteFile
from scratchnet.train.modelfile import load_model, save_model


def test_a_model_file_that_does_not_fit_keeps_the_old_one(tmp_path):
    with small_tmpfs(tmp_path / "disk", "128k") as disk:
        path = write_linear_model(disk / "model.npz")  # ~32 KB
        big = load_model(write_linear_model(tmp_path / "big.npz", input_shape=(3, 64, 64)))  # ~500 KB
        with pytest.raises(OSError, match="(?i)no space left") as err:
            save_model(path, big.model, big.spec, big.preprocess, big.classes, big.input_shape, big.dataset)
        assert str(path) in str(err.value)
        assert load_model(path).input_shape == (1, 28, 28) and [p.name for p in disk.iterdir()] == ["model.npz"]


def test_a_download_onto_a_full_disk_leaves_no_part_file(tmp_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            try:
                self.wfile.write(bytes(1 << 20))
            except OSError:
                pass

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        with small_tmpfs(tmp_path / "disk", "256k") as disk:
            with pytest.raises(DownloadError, match="No space left"):
                download.fetch(f"http://127.0.0.1:{httpd.server_address[1]}/f", disk / "f",
                               RemoteFile("f", "0" * 32, size=1 << 20), progress=False)
            assert list(disk.iterdir()) == []
    finally:
        httpd.shutdown()
        httpd.server_close()
