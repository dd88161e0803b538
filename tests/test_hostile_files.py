"""Files whose declared sizes are memory bombs, and places that are not regular files (issue 17,
section 2). The bombs are read in a subprocess whose address space may grow by only ~100 MB
(builders.run_bounded): scratchnet must refuse them with its own error, not allocate them."""
import gzip
import io
import json
import os
import subprocess
import tarfile
import zipfile

import numpy as np
import pytest

from builders import IDX_NAMES, run_bounded, write_cifar_archive, write_idx_dataset, write_linear_model
from scratchnet import data
from scratchnet.cli import main
from scratchnet.data import cifar
from scratchnet.data.idx import read_idx, read_idx_count
from scratchnet.train.modelfile import load_model

BOMB_BYTES = 300 << 20  # what each bomb expands to: three times the memory the reader may take
ZERO_CHUNK = bytes(1 << 20)


class Zeros(io.RawIOBase):
    """A stream of ``size`` zero bytes (tar members too large to hold in memory)."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def idx_gzip_bomb(path, images=BOMB_BYTES // 784):
    """A gzip IDX file whose header and data agree on ``images`` 28x28 zero images (~300 KB packed)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([images, 28, 28], ">u4").tobytes())
        for _ in range(images * 784 // len(ZERO_CHUNK)):
            f.write(ZERO_CHUNK)
        f.write(bytes(images * 784 % len(ZERO_CHUNK)))
    return path


def refused(code, *args, budget_mb=100):
    """Run ``code`` bounded; it must print REFUSED (scratchnet's own error) and nothing else may fail."""
    result = run_bounded(code, budget_mb=budget_mb, timeout=60, args=tuple(map(str, args)))
    assert result.returncode == 0 and "REFUSED" in result.stdout, result.stdout + result.stderr[-2000:]
    return result.stdout


READ_IDX = """
import sys
from scratchnet.data import DatasetFileError
from scratchnet.data.idx import read_idx
try:
    read_idx(sys.argv[1], ndim=3)
    print("LOADED")
except DatasetFileError as err:
    print("REFUSED", err)
"""


def test_a_gzip_idx_bomb_is_refused_before_it_is_decompressed(tmp_path):
    out = refused(READ_IDX, idx_gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz"))
    assert "can hold at most" in out


def test_a_gzip_whose_data_outgrows_its_header_stops_at_the_declared_size(tmp_path):
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:  # a header for 2 images, then 300 MB of zeros
        f.write(bytes([0, 0, 8, 3]) + np.array([2, 28, 28], ">u4").tobytes())
        for _ in range(BOMB_BYTES // len(ZERO_CHUNK)):
            f.write(ZERO_CHUNK)
    assert "has trailing bytes" in refused(READ_IDX, path)


def test_predict_on_a_gzip_bomb_reports_the_file(tmp_path):
    run = write_linear_model(tmp_path / "run" / "model.npz").parent
    bomb = idx_gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz")
    result = run_bounded("import sys\nsys.exit(scratchnet.cli.main(sys.argv[1:]))", budget_mb=100,
                         args=("predict", str(run), str(bomb)))
    assert result.returncode == 1 and "Traceback" not in result.stderr and "can hold at most" in result.stderr


def test_a_header_claiming_a_billion_images_is_broken_in_the_listing(tmp_path, capsys, monkeypatch):
    from scratchnet.data import locate
    monkeypatch.setattr(locate, "DEBIAN_DATASETS", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_idx_dataset(tmp_path / "mnist", gz=False)
    images = tmp_path / "mnist" / IDX_NAMES[0]
    images.write_bytes(bytes([0, 0, 8, 3]) + np.array([10**9, 28, 28], ">u4").tobytes() + bytes(784))
    with pytest.raises(data.DatasetFileError, match="does not match the size of the file"):
        read_idx_count(images)
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1,000,000,000" not in out and "BROKEN" in out


def test_gzip_listing_counts_check_the_gzip_trailer(tmp_path):
    write_idx_dataset(tmp_path, n_train=7)
    assert read_idx_count(tmp_path / (IDX_NAMES[0] + ".gz")) == 7
    raw = bytes([0, 0, 8, 3]) + np.array([10**9, 28, 28], ">u4").tobytes() + bytes(784)
    (tmp_path / "big.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(data.DatasetFileError, match="does not match the size"):
        read_idx_count(tmp_path / "big.gz")


def test_a_folder_where_an_idx_file_should_be_is_named(tmp_path):
    (tmp_path / "images").mkdir()
    for reader in (lambda p: read_idx(p, ndim=3), read_idx_count):
        with pytest.raises(data.DatasetFileError, match="not a regular file"):
            reader(tmp_path / "images")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_pipe_or_a_link_to_dev_zero_is_refused_without_hanging(tmp_path, kind):
    path = tmp_path / "images-idx3-ubyte"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    try:
        out = refused(READ_IDX, path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a {kind} hung")
    assert "not a regular file" in out


def cifar_with_huge_member(path, size):
    """A CIFAR-10 tarball whose test batch is ``size`` zero bytes (a few hundred KB packed)."""
    write_cifar_archive(path.with_name("small.tar.gz"))
    with tarfile.open(path.with_name("small.tar.gz")) as small, tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for member in small.getmembers():
            if member.name.endswith(cifar.TEST_FILE):
                member.size = size
                tar.addfile(member, Zeros(size))
            else:
                tar.addfile(member, small.extractfile(member))
    return path


def test_a_cifar_member_larger_than_a_batch_is_refused_unread(tmp_path):
    path = cifar_with_huge_member(tmp_path / cifar.ARCHIVE, BOMB_BYTES)
    out = refused("""
import sys
from scratchnet.data import DatasetFileError
from scratchnet.data.cifar import read_cifar10, record_counts
for reader in (read_cifar10, record_counts):
    try:
        reader(sys.argv[1])
        print("LOADED")
    except DatasetFileError as err:
        print("REFUSED", err)
""", path)
    assert out.count("REFUSED") == 2 and "more than a CIFAR-10 batch file holds" in out


def test_cifar_folder_files_that_are_not_regular_or_too_big_are_refused(tmp_path):
    write_cifar_archive(tmp_path / cifar.ARCHIVE)
    with tarfile.open(tmp_path / cifar.ARCHIVE) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    batches = tmp_path / "x" / cifar.FOLDER
    (batches / cifar.TEST_FILE).unlink()
    os.mkfifo(batches / cifar.TEST_FILE)
    with pytest.raises(data.DatasetFileError, match=f"missing {cifar.TEST_FILE}"):
        cifar.read_cifar10(batches)
    (batches / cifar.TEST_FILE).unlink()
    with open(batches / cifar.TEST_FILE, "wb") as f:
        f.truncate(cifar.MAX_BATCH_BYTES + cifar.RECORD_BYTES)  # sparse: no disk used
    with pytest.raises(data.DatasetFileError, match="more than a CIFAR-10 batch file holds"):
        cifar.read_cifar10(batches)
    os.mkfifo(tmp_path / "pipe.tar.gz")
    with pytest.raises(data.DatasetFileError, match="not a regular file"):
        cifar.read_cifar10(tmp_path / "pipe.tar.gz")


# ---- model files ----------------------------------------------------------------------------

def rewrite_member(path, name, payload, compress=False):
    """Replace the entry ``name`` (without .npy) of an .npz archive by ``payload`` bytes."""
    with zipfile.ZipFile(path) as src:
        entries = {info.filename: src.read(info) for info in src.infolist()}
    entries[name + ".npy"] = payload
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as dst:
        for filename, data_ in entries.items():
            dst.writestr(filename, data_)


def npy_header(shape, dtype="<f4"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


LOAD_MODEL = """
import sys
from scratchnet.train.modelfile import load_model
try:
    load_model(sys.argv[1])
    print("LOADED")
except ValueError as err:
    print("REFUSED", err)
"""


def test_an_npy_header_declaring_a_terabyte_is_refused_before_allocating(tmp_path):
    path = write_linear_model(tmp_path / "model.npz")
    rewrite_member(path, "state/1.weight", npy_header((10**12,)) + bytes(64))
    with pytest.raises(ValueError, match="is corrupted: entry 'state/1.weight' has shape"):
        load_model(path)
    assert "is corrupted" in refused(LOAD_MODEL, path)


def test_a_zip_bomb_entry_is_refused(tmp_path):
    path = write_linear_model(tmp_path / "model.npz")
    count = BOMB_BYTES // 4
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("extra.npy", "w", force_zip64=True) as member:
            member.write(npy_header((count,)))
            for _ in range(count * 4 // len(ZERO_CHUNK)):
                member.write(ZERO_CHUNK)
    assert "a zip bomb" in refused(LOAD_MODEL, path)


def test_a_huge_spec_in_a_small_model_file_is_refused_before_its_init(tmp_path):
    path = write_linear_model(tmp_path / "model.npz")
    with np.load(path) as archive:
        meta = json.loads(archive["scratchnet_model"].tobytes())
    meta["spec"]["layers"][1]["out_features"] = 2_000_000  # 6.3 GB of float32, 12.5 GB of float64 init
    raw = json.dumps(meta).encode()
    rewrite_member(path, "scratchnet_model", npy_header((len(raw),), "|u1") + raw)
    out = refused(LOAD_MODEL, path)
    assert "larger than the memory free" in out or "has shape (10, 784) but the model's spec implies" in out
    with pytest.raises(ValueError, match=r"has shape \(10, 784\) but the model's spec implies \(2000000, 784\)"):
        load_model(path)  # unbounded: the spec's arrays are reserved, never written


def test_predict_and_serve_report_a_bomb_without_a_traceback(tmp_path):
    path = write_linear_model(tmp_path / "run" / "model.npz")
    rewrite_member(path, "state/1.weight", npy_header((10**12,)) + bytes(64))
    picture = tmp_path / "x.png"
    picture.write_bytes(b"not used")
    for args in (["predict", str(path.parent), str(picture)], ["serve", str(path.parent), "--port", "0"]):
        result = subprocess.run([os.sys.executable, "-m", "scratchnet", *args], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
        assert "is corrupted" in result.stderr
