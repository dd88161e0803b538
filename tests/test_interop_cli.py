"""`scratchnet export`, safetensors into torch.nn, `train --init-from [--new-head]`, and evaluate/predict on
an exported .onnx file."""
import json
import sys

import numpy as np
import pytest
from builders import DIGITS
from conftest import dataset_dir
from test_zoo import torch_equivalent

import scratchnet
import scratchnet.onnx
from scratchnet import cli, zoo
from scratchnet.data import Preprocess
from scratchnet.data.idx import write_idx
from scratchnet.interop import onnx_export, safetensors_io
from scratchnet.train import pretrained
from scratchnet.train import TrainConfig, fit
from scratchnet.train.modelfile import load_model, save_model



def save_zoo_model(run_dir, name="lenet5", classes=DIGITS, seed=0):
    """A randomly initialised zoo model saved as run_dir/model.npz (z-score preprocessing, MNIST-shaped)."""
    scratchnet.manual_seed(seed)
    spec, model = zoo.build(name, (1, 28, 28), num_classes=len(classes))
    run_dir.mkdir(parents=True, exist_ok=True)
    preprocess = Preprocess("zscore", (0.13,), (0.31,))
    save_model(run_dir / "model.npz", model, spec, preprocess, classes, (1, 28, 28), "mnist")
    return run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return save_zoo_model(tmp_path_factory.mktemp("export") / "run", "cnn3-128-0.1")


def test_export_onnx_writes_a_file_onnxruntime_runs_with_metadata(run, capsys):
    ort = pytest.importorskip("onnxruntime")
    assert cli.main(["export", str(run), "--out", str(run / "m.onnx")]) == 0
    out = capsys.readouterr().out
    opset = onnx_export.OPSET
    assert f"ONNX opset {opset}, input 'input' (batch, 1, 28, 28) float32, output 'output' (batch, 10)" in out
    assert "preprocessing not folded in: feed (pixels / 255 - mean[c]) / std[c]" in out
    assert "checked: onnxruntime's outputs differ from scratchnet's by at most" in out
    session = ort.InferenceSession(str(run / "m.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == DIGITS
    loaded = load_model(run)
    images = np.random.default_rng(0).integers(0, 256, size=(4, 1, 28, 28), dtype=np.uint8)
    x = loaded.preprocess(images)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], loaded.model(x), rtol=1e-4, atol=1e-5)
    # the same file read back by scratchnet classifies raw images as the .npz does
    from_onnx = load_model(run / "m.onnx")
    assert from_onnx.classes == DIGITS and from_onnx.input_shape == (1, 28, 28)
    np.testing.assert_allclose(from_onnx.predict_proba(images), loaded.predict_proba(images), rtol=1e-5, atol=1e-6)


def test_export_safetensors_loads_into_the_same_torch_model(run, capsys):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    assert cli.main(["export", str(run), "--format", "safetensors"]) == 0
    assert "wrote" in capsys.readouterr().out
    loaded = load_model(run)
    net = torch_equivalent(loaded.spec)
    net.load_state_dict(safetensors_torch.load_file(str(run / "model.safetensors")))  # strict: every key
    x = loaded.preprocess(np.random.default_rng(1).integers(0, 256, size=(3, 1, 28, 28), dtype=np.uint8))
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(loaded.model(x), expected, rtol=1e-4, atol=1e-5)
    _, meta = safetensors_io.read(run / "model.safetensors")
    assert meta["format"] == "pt" and json.loads(meta["classes"]) == DIGITS
    assert json.loads(meta["scratchnet_model"])["spec"] == loaded.spec


def test_export_never_overwrites_its_source(run, capsys):
    pytest.importorskip("onnx")
    assert cli.main(["export", str(run), "--out", str(run / "again.onnx")]) == 0
    assert cli.main(["export", str(run / "again.onnx")]) == 2
    assert "would overwrite it; give another file with --out" in capsys.readouterr().err


def test_export_without_the_extra_says_what_to_install(run, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["export", str(run), "--out", str(run / "x.onnx")]) == 1
    assert "pip install 'scratchnet[onnx]'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    assert cli.main(["export", str(run), "--format", "safetensors", "--out", str(run / "x.safetensors")]) == 1
    assert "pip install 'scratchnet[safetensors]'" in capsys.readouterr().err


def test_predict_takes_an_exported_onnx_file(run, tmp_path, capsys):
    pytest.importorskip("onnx")
    images = np.random.default_rng(2).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    idx = write_idx(tmp_path / "images-idx3-ubyte", images)
    assert cli.main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    answers = []
    for model_file in (run, tmp_path / "m.onnx"):
        assert cli.main(["predict", str(model_file), str(idx), "--json"]) == 0
        answers.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert [a["prediction"] for a in answers[0]] == [a["prediction"] for a in answers[1]]
    assert len(answers[0]) == 3


def test_evaluate_refuses_an_onnx_file_without_scratchnet_metadata(tmp_path, capsys):
    pytest.importorskip("onnx")
    scratchnet.onnx.export(zoo.build("mlp2")[1], (1, 28, 28), tmp_path / "bare.onnx")
    assert cli.main(["evaluate", str(tmp_path / "bare.onnx")]) == 2
    assert "has no scratchnet metadata" in capsys.readouterr().err


# -- --init-from and --new-head ------------------------------------------------------------------------------------
def test_init_from_lists_every_mismatch_and_new_head_replaces_the_classifier(tmp_path):
    source = save_zoo_model(tmp_path / "five", "lenet5", classes=list("abcde"))
    scratchnet.manual_seed(1)
    _, model = zoo.build("lenet5", (1, 28, 28), num_classes=10)
    with pytest.raises(pretrained.WeightsMismatchError) as err:
        pretrained.init_from(model, source)
    assert "shape of 11.weight: (5, 84) in the file, (10, 84) in the model" in str(err.value)
    assert "shape of 11.bias: (5,) in the file, (10,) in the model" in str(err.value) and "--new-head" in str(err.value)
    fresh_head = model.state_dict()["11.weight"].copy()
    summary = pretrained.init_from(model, source, new_head=True)
    assert summary.endswith("new head: 11.weight, 11.bias start afresh")
    np.testing.assert_array_equal(model.state_dict()["11.weight"], fresh_head)
    np.testing.assert_array_equal(model.state_dict()["0.weight"], load_model(source).model.state_dict()["0.weight"])
    _, other = zoo.build("mlp2", (1, 28, 28))
    with pytest.raises(pretrained.WeightsMismatchError,
                       match=r"(?s)missing from the file: 1\.weight.*not in the model: 0\.weight"):
        pretrained.init_from(other, source)


def test_init_from_reads_safetensors_onnx_and_npz_alike(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    scratchnet.manual_seed(0)
    spec, model = zoo.build("cnn3-128-0.1")
    safetensors_io.save(tmp_path / "w.safetensors", model.state_dict())
    scratchnet.onnx.export(model, (1, 28, 28), tmp_path / "w.onnx")
    np.savez(tmp_path / "w.npz", **model.state_dict())
    for path in ("w.safetensors", "w.onnx", "w.npz"):
        scratchnet.manual_seed(5)
        _, fresh = zoo.build("cnn3-128-0.1")
        pretrained.init_from(fresh, tmp_path / path)
        for key, value in model.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                np.testing.assert_array_equal(fresh.state_dict()[key], value, err_msg=f"{path}: {key}")


def test_an_npz_member_declaring_a_huge_array_is_listed_never_read(tmp_path):
    """The declared shape is compared with the model's before any data is read: no 40 GB allocation."""
    import io
    import zipfile
    scratchnet.manual_seed(0)
    _, model = zoo.build("mlp2")
    np.savez(tmp_path / "huge.npz", **{k: v for k, v in model.state_dict().items() if k != "5.bias"})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "a") as archive:
        archive.writestr("5.bias.npy", header.getvalue() + b"\0" * 16)  # 40 GB declared, 16 bytes held
    with pytest.raises(pretrained.WeightsMismatchError, match=r"shape of 5\.bias: \(100000, 100000\) in the file"):
        pretrained.init_from(zoo.build("mlp2")[1], tmp_path / "huge.npz")


def test_corrupted_safetensors_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((10 ** 12).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="declares a 1,000,000,000,000-byte header but holds 2 bytes"):
        pretrained.init_from(zoo.build("mlp2")[1], path)


def test_torch_trained_weights_fine_tune_in_scratchnet(tmp_path):
    """A torch.nn model's state_dict saved with safetensors.torch starts a scratchnet run (--new-head: 10 classes
    where torch had 4); with a tiny learning rate the run (and its weight average) ends next to the torch weights."""
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    root = dataset_dir("mnist-10k")
    spec = zoo.spec("mlp2-32-16", (1, 28, 28), num_classes=4)
    torch.manual_seed(0)
    net = torch_equivalent(spec)
    safetensors_torch.save_file(net.state_dict(), str(tmp_path / "torch.safetensors"))
    config = TrainConfig(dataset="mnist", root=str(root), model="mlp2-32-16", epochs=1, train_subset=300,
                         test_subset=100, lr=1e-9, init_from=str(tmp_path / "torch.safetensors"), new_head=True,
                         ema_decay=0.999,  # the average starts from the loaded weights too
                         out=str(tmp_path / "run"))
    trained = fit(config, quiet=True).model.state_dict()
    np.testing.assert_allclose(trained["1.weight"], net.state_dict()["1.weight"].numpy(), atol=1e-6)
    assert trained["5.weight"].shape == (10, 16)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["init_from"].endswith("torch.safetensors")


def test_new_head_needs_init_from(capsys):
    assert cli.main(["train", "--new-head", "--epochs", "1"]) == 2
    assert "--new-head starts afresh the last layer of weights loaded with --init-from; give --init-from" in \
        capsys.readouterr().err
