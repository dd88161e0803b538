"""Property-based fuzz targets for every parser of user files (issue 17, "How to test it").

Each target feeds Hypothesis-made files to one reader and asserts the reader either loads
them or raises scratchnet's own error type for that kind of file: DatasetFileError for IDX
and CIFAR-10, ValueError (with a message) for model files, checkpoints, spec files and images.
Any other exception, a hang or running out of memory fails. tests/test_fuzz_parsers.py runs
each target in a subprocess under an address-space cap (builders.run_bounded); run one by
hand with ``python tests/fuzz_targets.py idx``.
"""
from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
WORK = Path(tempfile.mkdtemp(prefix="scratchnet-fuzz-"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def mutated(data: bytes):
    """``data`` with a few bytes overwritten, a cut, or extra bytes: a damaged copy of a good file."""
    return st.one_of(
        st.just(data),
        st.integers(0, max(len(data) - 1, 0)).map(lambda n: data[:n]),
        st.tuples(st.integers(0, max(len(data) - 1, 0)), st.binary(min_size=1, max_size=8)).map(
            lambda t: data[:t[0]] + t[1] + data[t[0] + len(t[1]):]),
        st.binary(max_size=64).map(lambda extra: data + extra),
    )


def write(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


# ---- IDX ------------------------------------------------------------------------------------

@st.composite
def idx_files(draw) -> bytes:
    ndim = draw(st.integers(0, 4))
    dims = draw(st.lists(st.one_of(st.integers(0, 8), st.integers(0, 2**32 - 1)), min_size=ndim, max_size=ndim))
    code = draw(st.sampled_from([0x08, 0x08, 0x09, 0x0D]))
    magic = draw(st.sampled_from([b"\x00\x00", b"\x00\x00", b"\x01\x00"]))
    payload = draw(st.binary(max_size=600))
    raw = magic + bytes([code, ndim]) + np.array(dims, ">u4").tobytes() + payload
    raw = draw(mutated(raw))
    return gzip.compress(raw) if draw(st.booleans()) else raw


def fuzz_idx() -> None:
    from scratchnet.data import DatasetFileError
    from scratchnet.data.idx import read_idx, read_idx_count

    @SETTINGS
    @given(idx_files(), st.sampled_from([1, 3]))
    def check(raw, ndim):
        path = write("file-idx", raw)
        for read in (lambda: read_idx(path, ndim), lambda: read_idx_count(path)):
            try:
                read()
            except DatasetFileError:
                pass
    check()


# ---- CIFAR-10 -------------------------------------------------------------------------------

@st.composite
def cifar_archives(draw) -> bytes:
    from scratchnet.data import cifar

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = draw(st.lists(st.sampled_from([*cifar.TRAIN_FILES, cifar.TEST_FILE, "x.bin"]), max_size=7))
        for name in names:
            payload = draw(st.binary(max_size=3 * cifar.RECORD_BYTES))
            if draw(st.booleans()):
                payload = bytes([draw(st.integers(0, 255))]) + bytes(cifar.RECORD_BYTES - 1)
            member = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    return draw(mutated(buffer.getvalue()))


def fuzz_cifar() -> None:
    from scratchnet.data import DatasetFileError
    from scratchnet.data.cifar import read_cifar10, record_counts

    @SETTINGS
    @given(cifar_archives())
    def check(raw):
        path = write("cifar-10-binary.tar.gz", raw)
        for read in (read_cifar10, record_counts):
            try:
                read(path)
            except DatasetFileError:
                pass
    check()


# ---- model files and checkpoints ------------------------------------------------------------

def _good_model_file() -> bytes:
    from scratchnet import nn
    from scratchnet.data import Preprocess
    from scratchnet.train.modelfile import save_model

    spec = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 16, "out_features": 3}]}
    path = WORK / "good-model.npz"
    save_model(path, nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), spec, Preprocess("scale"), ["a", "b", "c"],
               (1, 4, 4), "mnist")
    return path.read_bytes()


def _npy(shape, dtype: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


@st.composite
def npz_archives(draw, good: bytes, meta_key: str) -> bytes:
    """A good archive with entries replaced: random metadata JSON, odd .npy headers, damage."""
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    for name in draw(st.lists(st.sampled_from(sorted(entries)), max_size=3)):
        if name == meta_key + ".npy":
            meta = json.loads(np.load(io.BytesIO(entries[name])).tobytes())
            key = draw(st.sampled_from(sorted(meta)))
            meta[key] = draw(json_values)
            raw = json.dumps(meta).encode()
            entries[name] = _npy((len(raw),), "|u1", raw)
        else:
            shape = tuple(draw(st.lists(st.one_of(st.integers(0, 20), st.integers(0, 2**62)), max_size=3)))
            dtype = draw(st.sampled_from(["<f4", "<f8", "|u1", "<i8", "|O", "<U3"]))
            entries[name] = _npy(shape, dtype, draw(st.binary(max_size=400)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as out:
        for name, data in entries.items():
            out.writestr(name, data)
    return draw(mutated(buffer.getvalue()))


def _fuzz_npz(good: bytes, meta_key: str, load) -> None:
    """``load(path)`` on damaged copies of the archive ``good`` loads or raises a ValueError with a message."""
    @SETTINGS
    @given(npz_archives(good, meta_key))
    def check(raw):
        try:
            load(write(f"{meta_key}.npz", raw))
        except ValueError as err:
            assert str(err)
    check()


def fuzz_model() -> None:
    from scratchnet.train.modelfile import load_model

    _fuzz_npz(_good_model_file(), "scratchnet_model", load_model)


def _good_checkpoint() -> bytes:
    from scratchnet import nn, optim
    from scratchnet.train.checkpoint import TrainingState, save_checkpoint

    model = nn.Sequential(nn.Linear(4, 2))
    opt = optim.Adam(model.parameters())
    model(np.ones((2, 4), np.float32))
    model.backward(np.ones((2, 2), np.float32))
    opt.step()
    state = TrainingState(epoch=1, spec={"layers": [{"type": "Linear", "in_features": 4, "out_features": 2}]},
                          model=model.state_dict(), best_model=model.state_dict(), optimizer=opt.state_dict(),
                          scheduler=None, rng=np.random.default_rng(0).bit_generator.state,
                          history=[{"epoch": 1, "val_loss": 0.5}], best_epoch=1, best_val_loss=0.5)
    save_checkpoint(WORK / "good-checkpoint.npz", state)
    return (WORK / "good-checkpoint.npz").read_bytes()


def fuzz_checkpoint() -> None:
    from scratchnet.train.checkpoint import load_checkpoint

    _fuzz_npz(_good_checkpoint(), "checkpoint", load_checkpoint)


# ---- spec files -----------------------------------------------------------------------------

layer_args = st.dictionaries(
    st.sampled_from(["in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride",
                     "padding", "p", "num_features", "bias", "dim", "init", "negative_slope", "alpha"]),
    st.one_of(st.integers(-2, 12), st.floats(allow_nan=True), st.booleans(), st.text(max_size=4),
              st.lists(st.integers(-1, 4), max_size=3), json_values),
    max_size=4,
)


@st.composite
def spec_files(draw) -> tuple[str, bytes]:
    from scratchnet.spec import layer_types

    layers = draw(st.lists(st.builds(lambda kind, args: {"type": kind, **args},
                                     st.sampled_from([*layer_types(), "Nope"]), layer_args), max_size=4))
    spec = draw(st.one_of(st.just({"layers": layers}), json_values))
    text = json.dumps(spec)
    nested = draw(st.integers(0, 3))
    if nested == 3:
        text = "[" * 100_000 + "]" * 100_000
    raw = draw(st.one_of(st.just(text.encode()), st.text(max_size=40).map(str.encode), st.binary(max_size=40)))
    return draw(st.sampled_from([".json", ".toml"])), raw


def fuzz_spec() -> None:
    from scratchnet.spec import build_model, load_spec

    @SETTINGS
    @given(spec_files())
    def check(suffix_and_raw):
        suffix, raw = suffix_and_raw
        path = write(f"model{suffix}", raw)
        try:
            build_model(load_spec(path))
        except ValueError as err:
            assert str(err)
    check()


# ---- images ---------------------------------------------------------------------------------

def _good_images() -> list[bytes]:
    from PIL import Image, ImageDraw

    image = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(image).line([(8, 8), (30, 8), (15, 34)], fill=255, width=4)
    files = []
    for kind, mode in (("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB")):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format=kind)
        files.append(buffer.getvalue())
    return files


def fuzz_image() -> None:
    from scratchnet.data.handwriting import open_image, prepare_digit
    from scratchnet.serve.app import RequestError, open_drawing

    @SETTINGS
    @given(st.sampled_from(_good_images()).flatmap(mutated) | st.binary(max_size=200))
    def check(raw):
        for read in (lambda: prepare_digit(open_image(raw)), lambda: prepare_digit(open_drawing(raw)),
                     lambda: prepare_digit(open_image(write("upload.png", raw)))):
            try:
                read()
            except (ValueError, RequestError) as err:
                assert str(err)
    check()


TARGETS = {"idx": fuzz_idx, "cifar": fuzz_cifar, "model": fuzz_model, "checkpoint": fuzz_checkpoint,
           "spec": fuzz_spec, "image": fuzz_image}

if __name__ == "__main__":
    TARGETS[sys.argv[1]]()
    print("fuzzed", sys.argv[1])
