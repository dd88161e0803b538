"""A disk that fills up, for real: a small tmpfs (skipped where mounting is not allowed): a model
file that does not fit keeps the old one (issue 17; downloads onto a full disk are tested in
test_data_download.py, run directories with the run-file module)."""

import pytest

from builders import small_tmpfs, write_linear_model
from scratchnet.train.modelfile import load_model, save_model


def test_a_model_file_that_does_not_fit_keeps_the_old_one(tmp_path):
    with small_tmpfs(tmp_path / "disk", "128k") as disk:
        path = write_linear_model(disk / "model.npz")  # ~32 KB
        big = load_model(write_linear_model(tmp_path / "big.npz", input_shape=(3, 64, 64)))  # ~500 KB
        with pytest.raises(OSError, match="(?i)no space left") as err:
            save_model(path, big.model, big.spec, big.preprocess, big.classes, big.input_shape, big.dataset)
        assert str(path) in str(err.value)
        assert load_model(path).input_shape == (1, 28, 28) and [p.name for p in disk.iterdir()] == ["model.npz"]
