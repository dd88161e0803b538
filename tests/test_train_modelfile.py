import json
import zipfile

import numpy as np
import pytest

from scratchnet import __version__, manual_seed, zoo
from scratchnet.data import Preprocess
from scratchnet.train import load_model, save_model
from scratchnet.train.modelfile import FORMAT_VERSION, META_KEY

CLASSES = [f"class {i}" for i in range(10)]


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (7, 1, 28, 28), dtype=np.uint8)


@pytest.fixture
def saved(tmp_path, images):
    """A freshly initialised lenet5 saved with z-score preprocessing fitted on the test images."""
    manual_seed(0)
    spec, model = zoo.build("lenet5", (1, 28, 28))
    prep = Preprocess.fit(images, "zscore")
    path = tmp_path / "model.npz"
    save_model(path, model, spec, prep, CLASSES, (1, 28, 28), "mnist", extra={"loss": "ce"})
    return path, spec, model, prep


def test_round_trip_keeps_weights_and_metadata(saved, images):
    path, spec, model, prep = saved
    loaded = load_model(path)
    assert loaded.spec == spec and loaded.classes == CLASSES and loaded.input_shape == (1, 28, 28)
    assert loaded.dataset == "mnist" and loaded.extra == {"loss": "ce"} and loaded.scratchnet_version == __version__
    assert loaded.preprocess == prep and not loaded.model.training
    original = model.state_dict()
    assert all(np.array_equal(v, original[k]) for k, v in loaded.model.state_dict().items())
    logits = model.eval()(prep(images)).astype(np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loaded.predict_proba(images, batch_size=3), expected, rtol=1e-5)


def test_the_file_is_plain_numpy_without_pickle(saved):
    path, *_ = saved
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive[META_KEY].tobytes())
        assert archive["state/0.weight"].shape == (6, 1, 5, 5)
    assert meta["format"] == "scratchnet-model" and meta["preprocess"]["kind"] == "zscore"


def test_sigmoid_outputs_are_normalised_to_probabilities(tmp_path, images):
    spec, model = zoo.build("cnet-mlp")
    save_model(tmp_path / "m.npz", model, spec, Preprocess("scale"), CLASSES, (1, 28, 28), "mnist")
    loaded = load_model(tmp_path / "m.npz")
    p = loaded.predict_proba(images)
    outputs = model.eval()(images.astype(np.float32) / 255)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p, outputs / outputs.sum(axis=1, keepdims=True), rtol=1e-5)


def test_wrong_image_shape_is_explained(saved):
    with pytest.raises(ValueError, match=r"takes images of shape \(N>=1, 1, 28, 28\)"):
        load_model(saved[0]).predict_proba(np.zeros((2, 3, 32, 32), np.uint8))


def test_save_is_atomic_and_leaves_no_temporary_files(saved):
    path, *_ = saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.npz"]


def _rewrite(path, out, change):
    """Copy the archive at path to out with change(arrays) applied."""
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    change(arrays)
    np.savez(out, **arrays)


def _set_meta(arrays, **fields):
    meta = json.loads(arrays[META_KEY].tobytes())
    meta.update(fields)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)


def test_a_newer_format_asks_for_an_upgrade(saved, tmp_path):
    _rewrite(saved[0], tmp_path / "new.npz", lambda a: _set_meta(a, format_version=FORMAT_VERSION + 1,
                                                                            scratchnet_version="9.0"))
    with pytest.raises(ValueError, match=rf"newer scratchnet \(9.0, model format version {FORMAT_VERSION + 1}\)"
                                         ".*upgrade"):
        load_model(tmp_path / "new.npz")


def test_weights_not_matching_the_architecture_are_corruption(saved, tmp_path):
    _rewrite(saved[0], tmp_path / "bad.npz", lambda a: a.pop("state/0.bias"))
    with pytest.raises(ValueError, match="corrupted: its weights do not match its architecture"):
        load_model(tmp_path / "bad.npz")


def test_files_that_are_not_model_files_are_rejected(saved, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(saved[0].read_bytes()[:2000])
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{META_KEY: np.array([{"format": "scratchnet-model"}], dtype=object)})
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, **{META_KEY: np.frombuffer(b'{"format": "other"}', np.uint8)})
    cases = {
        text: "is not a NumPy .npz archive",
        npy: r"is a single NumPy array \(.npy\)",
        other: "NumPy archive but not a scratchnet model file.*holds weights",
        truncated: "is corrupted or truncated",
        pickled: "holds pickled objects, which scratchnet never loads",
        foreign: "does not say format 'scratchnet-model'",
        tmp_path / "missing.npz": "does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message):
            load_model(path)


def test_damaged_bytes_are_corruption(saved, tmp_path):
    flipped = bytearray(saved[0].read_bytes())
    flipped[len(flipped) // 2:len(flipped) // 2 + 16] = bytes(16)  # inside a weight array: its CRC fails
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    short = tmp_path / "short.npz"  # a member whose array data was cut, with a valid CRC
    with zipfile.ZipFile(saved[0]) as src, zipfile.ZipFile(short, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, data[:-10] if item.filename == "state/3.weight.npy" else data)
    for path in (tmp_path / "flipped.npz", short):
        with pytest.raises(ValueError, match=f"{path.name} is corrupted"):
            load_model(path)


def test_a_run_directory_loads_its_model_file(tmp_path):
    spec, model = zoo.build("lenet5")
    save_model(tmp_path / "model.npz", model, spec, Preprocess("scale"), CLASSES, (1, 28, 28), "mnist")
    assert load_model(tmp_path).spec == load_model(tmp_path / "model.npz").spec
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(ValueError, match="model.npz"):
        load_model(tmp_path / "empty-run")


def test_model_files_get_a_new_files_usual_permissions(tmp_path):
    spec, model = zoo.build("lenet5")
    path = tmp_path / "model.npz"
    save_model(path, model, spec, Preprocess("scale"), CLASSES, (1, 28, 28), "mnist")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's private 0600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
