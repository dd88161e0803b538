"""`scratchnet train --resume` on checkpoints damaged in every way the issue lists (issue 17,
section 5): each gets a message naming the checkpoint, never a traceback, and trains nothing."""
import json
import shutil

import numpy as np
import pytest

from builders import write_idx_dataset
from scratchnet.cli import main


@pytest.fixture(scope="module")
def finished_epoch(tmp_path_factory):
    """A one-epoch run of a small MLP (Adam) on 120 generated MNIST-shaped images."""
    base = tmp_path_factory.mktemp("resume")
    write_idx_dataset(base / "mnist", n_train=120, n_test=20)
    run = base / "run"
    assert main(["train", "--dataset", "mnist", "--root", str(base / "mnist"), "--model", "mlp2-32-16",
                 "--epochs", "1", "--val-size", "20", "--batch-size", "20", "--threads", "1", "--out", str(run),
                 "--no-report", "--quiet"]) == 0
    return run


def read(run):
    with np.load(run / "checkpoint.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("checkpoint").tobytes()), arrays


def write(run, meta, arrays, raw_meta=None):
    raw = raw_meta if raw_meta is not None else json.dumps(meta).encode()
    np.savez(run / "checkpoint.npz", checkpoint=np.frombuffer(raw, np.uint8), **arrays)


def without(arrays, prefix):
    return {name: value for name, value in arrays.items() if not name.startswith(prefix)}


def reshaped(arrays, name):
    return {**arrays, name: np.zeros((3, 3), arrays[name].dtype)}


VARIANTS = {  # name -> (how the (meta, arrays) of a good checkpoint are damaged)
    "no-model-weights": lambda meta, arrays: (meta, without(arrays, "model/")),
    "no-best-weights": lambda meta, arrays: (meta, without(arrays, "best/")),
    "no-optimizer-array": lambda meta, arrays: (meta, without(arrays, "optimizer/3")),
    "model-weight-shape": lambda meta, arrays: (meta, reshaped(arrays, "model/1.weight")),
    "best-weight-shape": lambda meta, arrays: (meta, reshaped(arrays, "best/3.weight")),
    "optimizer-array-shape": lambda meta, arrays: (meta, reshaped(arrays, "optimizer/0")),
    "epoch-string": lambda meta, arrays: ({**meta, "epoch": "1"}, arrays),
    "epoch-negative": lambda meta, arrays: ({**meta, "epoch": -1}, arrays),
    "history-number": lambda meta, arrays: ({**meta, "history": 5}, arrays),
    "rng-garbage": lambda meta, arrays: ({**meta, "rng": {"bit_generator": "nope"}}, arrays),
    "optimizer-garbage": lambda meta, arrays: ({**meta, "optimizer": {"param_groups": 3}}, arrays),
    "missing-key": lambda meta, arrays: ({k: v for k, v in meta.items() if k != "best_epoch"}, arrays),
    "stopped-early-string": lambda meta, arrays: ({**meta, "stopped_early": "no"}, arrays),
    "best-loss-string": lambda meta, arrays: ({**meta, "best_val_loss": "low"}, arrays),
    "spec-other-layers": lambda meta, arrays: ({**meta, "spec": {"layers": [{"type": "Flatten"}, {
        "type": "Linear", "in_features": 784, "out_features": 10}]}}, arrays),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_corrupt_checkpoint_gets_a_message_on_resume(finished_epoch, tmp_path, capsys, variant):
    run = tmp_path / "run"
    shutil.copytree(finished_epoch, run)
    write(run, *VARIANTS[variant](*read(run)))
    capsys.readouterr()
    status = main(["train", "--resume", str(run), "--epochs", "2", "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert status == 2 and "checkpoint.npz" in err and "Traceback" not in err, err
    with open(run / "history.csv") as f:
        assert len(f.read().splitlines()) == 2  # the header and epoch 1: nothing was trained


@pytest.mark.parametrize("raw", [b"\xff\xfe not json", b"[" * 100_000 + b"]" * 100_000], ids=["bytes", "deep"])
def test_unreadable_checkpoint_metadata_gets_a_message(finished_epoch, tmp_path, capsys, raw):
    run = tmp_path / "run"
    shutil.copytree(finished_epoch, run)
    write(run, None, read(run)[1], raw_meta=raw)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet", "--no-report"]) == 2
    assert "is corrupted" in capsys.readouterr().err
