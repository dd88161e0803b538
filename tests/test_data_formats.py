"""Reading IDX and CIFAR-10 binary files, real and generated, and every way they can be broken."""
import gzip
import tarfile

import numpy as np
import pytest
from builders import IDX_NAMES, write_cifar_archive, write_idx_dataset
from conftest import dataset_dir

from scratchnet import data
from scratchnet.data import cifar
from scratchnet.data.idx import read_idx, read_idx_count, write_idx



pytestmark = pytest.mark.usefixtures("isolated_data_places")


def test_real_fashion_mnist_reads_whole_with_its_classes():
    folder = dataset_dir("fashion-mnist")
    ds = data.load("fashion-mnist", root=folder, progress=False)
    assert ds.x_train.shape == (60_000, 1, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10_000, 1, 28, 28) and ds.y_test.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [6000] * 10 and np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.note == "" and not ds.is_subset
    assert ds.source == str(folder.resolve()) and ds.origin == "root argument"


def test_real_mnist_10k_says_it_is_a_subset(capsys):
    ds = data.load("mnist", root=dataset_dir("mnist-10k"))
    assert len(ds.x_train) == 10_000 and len(ds.x_test) == 10_000
    assert np.bincount(ds.y_train).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert ds.note.startswith("MNIST 10k subset") and "10,000 of the 60,000 training images" in ds.note
    assert "mnist-10k" in capsys.readouterr().err  # the log line names the folder used


@pytest.mark.parametrize("gz", [True, False])
def test_generated_idx_round_trips_with_any_count(tmp_path, gz):
    arrays = write_idx_dataset(tmp_path / "d", n_train=7, n_test=3, gz=gz)
    ds = data.load("kmnist", root=tmp_path / "d", download=False, progress=False)
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays[0])
    np.testing.assert_array_equal(ds.y_test, arrays[3])
    assert read_idx_count(tmp_path / "d" / (IDX_NAMES[0] + (".gz" if gz else ""))) == 7
    assert "7 of the 60,000 training images" in ds.note


def test_local_copy_may_use_dotted_mnist_names(tmp_path):
    arrays = write_idx_dataset(tmp_path, gz=False)
    for name in IDX_NAMES:
        (tmp_path / name).rename(tmp_path / name.replace("-idx", ".idx"))
    ds = data.load("mnist", root=tmp_path, download=False, progress=False)
    np.testing.assert_array_equal(ds.y_train, arrays[1])


def _images_file(tmp_path, raw: bytes):
    path = tmp_path / "images"
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("raw, problem", [
    (b"\x08\x03\x00\x00" + bytes(20), "bad magic number"),
    (b"", "empty file"),
    (b"\x00\x00\x0d\x03" + bytes(20), "type code 0x0d"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (b"\x00\x00\x08\x03" + np.array([2, 2, 2], ">u4").tobytes() + bytes(7), "truncated"),
    (b"\x00\x00\x08\x03" + np.array([2, 2, 2], ">u4").tobytes() + bytes(9), "trailing bytes"),
    (b"\x00\x00\x08\x01" + np.array([2], ">u4").tobytes() + bytes(2), "has 1 dimensions"),
])
def test_broken_idx_files_are_named_with_their_problem(tmp_path, raw, problem):
    path = _images_file(tmp_path, raw)
    with pytest.raises(data.DatasetFileError, match=problem) as err:
        read_idx(path, ndim=3)
    assert str(path) in str(err.value)


def test_truncated_gzip_is_reported(tmp_path):
    write_idx_dataset(tmp_path)
    path = tmp_path / (IDX_NAMES[0] + ".gz")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.DatasetFileError, match="corrupt or truncated gzip"):
        data.load("mnist", root=tmp_path, download=False, progress=False)


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_dataset(tmp_path)
    write_idx(tmp_path / (IDX_NAMES[1] + ".gz"), np.zeros(11, np.uint8))
    with pytest.raises(data.DatasetFileError, match="12 images but .* has 11 labels"):
        data.load("mnist", root=tmp_path, download=False, progress=False)


def test_labels_out_of_range_and_wrong_image_size_are_refused(tmp_path):
    write_idx_dataset(tmp_path / "a")
    write_idx(tmp_path / "a" / (IDX_NAMES[3] + ".gz"), np.full(5, 10, np.uint8))
    with pytest.raises(data.DatasetFileError, match="label 10 is out of range"):
        data.load("mnist", root=tmp_path / "a", download=False, progress=False)
    write_idx_dataset(tmp_path / "b", size=(32, 32))
    with pytest.raises(data.DatasetFileError, match=r"images are \(1, 32, 32\), but mnist images are \(1, 28, 28\)"):
        data.load("mnist", root=tmp_path / "b", download=False, progress=False)


def test_cifar_binary_archive_is_read_in_place(tmp_path):
    batches = write_cifar_archive(tmp_path / cifar.ARCHIVE)
    ds = data.load("cifar-10", root=tmp_path, download=False, progress=False)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(ds.x_train[4:8], batches["data_batch_2.bin"][0])
    np.testing.assert_array_equal(ds.y_test, batches["test_batch.bin"][1])
    assert ds.classes[0] == "airplane" and "20 of the 50,000" in ds.note
    assert cifar.record_counts(tmp_path / cifar.ARCHIVE) == (20, 4)


def test_cifar_dev_copy_is_recognised_by_its_test_set_and_labelled_as_its_readme_requires():
    ds = data.load("cifar-10", root=dataset_dir("cifar-10"), download=False, progress=False)
    if len(ds.x_train) == 50_000:
        pytest.skip("the CIFAR-10 copy here is complete, not the 40,000-image development copy")
    assert ds.note.startswith("CIFAR-10 dev copy (test carved from the training set)")
    assert "40,000 of the 50,000 training images" in ds.note and "subset" not in ds.note


def test_another_partial_cifar_copy_keeps_a_generic_note_that_doubts_its_test_set(tmp_path):
    write_cifar_archive(tmp_path / cifar.ARCHIVE)
    ds = data.load("cifar-10", root=tmp_path, download=False, progress=False)
    assert not cifar.is_dev_copy(ds.x_test, ds.y_test) and "dev copy" not in ds.note
    assert "20 of the 50,000 training images" in ds.note and "the test set may not be CIFAR-10's official one" in ds.note


def test_cifar_extracted_folder_is_accepted(tmp_path):
    batches = write_cifar_archive(tmp_path / cifar.ARCHIVE)
    with tarfile.open(tmp_path / cifar.ARCHIVE) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    (tmp_path / cifar.ARCHIVE).unlink()
    ds = data.load("cifar-10", root=tmp_path / "x", download=False, progress=False)
    np.testing.assert_array_equal(ds.x_train[:4], batches["data_batch_1.bin"][0])


@pytest.mark.parametrize("kwargs, problem", [
    ({"drop": ("test_batch.bin",)}, "missing test_batch.bin"),
    ({"cut_record": "data_batch_3.bin"}, "data_batch_3.bin: 12282 bytes is not a whole number of 3073-byte records"),
])
def test_broken_cifar_archives_are_named_with_their_problem(tmp_path, kwargs, problem):
    write_cifar_archive(tmp_path / cifar.ARCHIVE, **kwargs)
    with pytest.raises(data.DatasetFileError, match=problem):
        data.load("cifar-10", root=tmp_path, download=False, progress=False)


def test_truncated_cifar_archive_is_reported(tmp_path):
    path = tmp_path / cifar.ARCHIVE
    write_cifar_archive(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(data.DatasetFileError, match="corrupt or truncated archive"):
        data.load("cifar-10", root=tmp_path, download=False, progress=False)


def test_write_idx_gzips_by_name(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    assert gzip.decompress(write_idx(tmp_path / "l.gz", labels).read_bytes())[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l", labels), ndim=1), labels)
    with pytest.raises(ValueError, match="unsigned bytes only"):
        write_idx(tmp_path / "f", np.zeros(3, np.float32))


def test_scratchnet_data_folder_linking_mnist_to_the_10k_subset(monkeypatch, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist").symlink_to(dataset_dir("mnist-10k"))
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "data"))
    ds = data.load("mnist", download=False)
    assert ds.origin == "$SCRATCHNET_DATA" and ds.source == str(dataset_dir("mnist-10k").resolve())
    assert "($SCRATCHNET_DATA): MNIST 10k subset" in capsys.readouterr().err
