"""A disk that fills up, for real: a small tmpfs (skipped where mounting is not allowed). Each
write that fails says where, leaves no temporary file, and never a traceback (issue 17)."""
import http.server
import threading

import pytest

import scratchnet.data.download as download
from builders import small_tmpfs, write_idx_dataset, write_linear_model
from scratchnet.cli import main
from scratchnet.data import DownloadError
from scratchnet.data.registry import RemoteFile
from scratchnet.train.modelfile import load_model, save_model


def test_training_onto_a_full_disk_says_so_and_leaves_no_temporary_file(tmp_path, capsys):
    write_idx_dataset(tmp_path / "mnist", n_train=120, n_test=20)
    with small_tmpfs(tmp_path / "disk", "200k") as disk:
        status = main(["train", "--dataset", "mnist", "--root", str(tmp_path / "mnist"), "--model", "mlp2-32-16",
                       "--epochs", "1", "--val-size", "20", "--batch-size", "20", "--out", str(disk / "run"),
                       "--quiet", "--no-report"])
        err = capsys.readouterr().err
        assert status == 1 and "Traceback" not in err
        assert f"no space left on the disk writing {disk / 'run' / 'checkpoint.npz'}" in err
        assert sorted(p.name for p in (disk / "run").iterdir()) == ["config.json"]


def test_a_model_file_that_does_not_fit_keeps_the_old_one(tmp_path):
    with small_tmpfs(tmp_path / "disk", "128k") as disk:
        path = write_linear_model(disk / "model.npz")  # ~32 KB
        big = load_model(write_linear_model(tmp_path / "big.npz", input_shape=(3, 64, 64)))  # ~500 KB
        with pytest.raises(OSError, match="No space left") as err:
            save_model(path, big.model, big.spec, big.preprocess, big.classes, big.input_shape, big.dataset)
        assert err.value.filename == str(path)
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
