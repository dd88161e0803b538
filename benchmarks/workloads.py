"""The benchmark workloads: architectures, batch sizes, optimisers, their GEMM FLOPs, and their data.

A layer is written once as ``(torch.nn class name, *positional args)`` and built the same way
from ``scratchnet.nn`` and ``torch.nn``, which share names and argument order.
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SEED = 0
REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
# Folder under shared/datasets holding each dataset the workloads use.
DATASET_FOLDERS = {"mnist": "mnist-10k", "fashion-mnist": "fashion-mnist"}


# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------
# A layer is (torch.nn class name, *positional args[, {keyword args}]): built the same way
# from scratchnet.nn and torch.nn, which share names and argument order. "BasicBlock" is the
# user-written residual block of residual.py (in_channels, out_channels, stride); "Zoo" is a
# whole model: scratchnet's zoo entry and its PyTorch twin in tests/torch_resnets.py.
MLP_LAYERS = (("Linear", 784, 256), ("ReLU",), ("Linear", 256, 128), ("ReLU",), ("Linear", 128, 10))
CNN3_512_LAYERS = (  # SEEDS.md 002, CNNk-n-p with k=3, n=512, p=0.1
    ("Conv2d", 1, 32, 3), ("BatchNorm2d", 32), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 32, 64, 3), ("BatchNorm2d", 64), ("ReLU",), ("MaxPool2d", 2),
    ("Flatten",), ("Dropout", 0.1), ("ReLU",),
    ("Linear", 1600, 512), ("ReLU",), ("Dropout", 0.1), ("Linear", 512, 10),
)
CNN3_512_PAD1_LAYERS = (  # the same with padding=1, the common tutorial default: 28 -> 14 -> 7
    ("Conv2d", 1, 32, 3, {"padding": 1}), ("BatchNorm2d", 32), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 32, 64, 3, {"padding": 1}), ("BatchNorm2d", 64), ("ReLU",), ("MaxPool2d", 2),
    ("Flatten",), ("Dropout", 0.1), ("ReLU",),
    ("Linear", 3136, 512), ("ReLU",), ("Dropout", 0.1), ("Linear", 512, 10),
)
LENET5_LAYERS = (  # SEEDS.md 001 3(b), with the ReLUs of PyTorch's CIFAR tutorial net
    ("Conv2d", 3, 6, 5), ("ReLU",), ("MaxPool2d", 2),
    ("Conv2d", 6, 16, 5), ("ReLU",), ("MaxPool2d", 2), ("Flatten",),
    ("Linear", 400, 120), ("ReLU",), ("Linear", 120, 84), ("ReLU",), ("Linear", 84, 10),
)
DENSE10K_LAYERS = (  # SEEDS.md 001 3(a): at least 10,000 neurons in one hidden layer
    ("Conv2d", 3, 3, 5), ("ReLU",), ("Flatten",),
    ("Linear", 2352, 10000), ("ReLU",), ("Linear", 10000, 10),
)

RESNET20_LAYERS = (  # He et al. 2016, 4.2: 6n+2 layers with n = 3 (see residual.py)
    ("Conv2d", 3, 16, 3, {"padding": 1, "bias": False}), ("BatchNorm2d", 16), ("ReLU",),
    *(("BasicBlock", 16, 16, 1),) * 3,
    ("BasicBlock", 16, 32, 2), *(("BasicBlock", 32, 32, 1),) * 2,
    ("BasicBlock", 32, 64, 2), *(("BasicBlock", 64, 64, 1),) * 2,
    ("AvgPool2d", 8), ("Flatten",), ("Linear", 64, 10),
)

ZOO_RESNET20 = (("Zoo", "resnet20", 3),)  # the zoo's resnet20 (3 input channels): padding shortcuts, no 1x1 convs
# GEMM layers of each zoo model, for the FLOP count: ResNet-20's blocks without shortcut convolutions.
ZOO_GEMM_LAYERS = {"resnet20": tuple((*layer[:4], {"shortcut": "pad"}) if layer[0] == "BasicBlock" else layer
                                     for layer in RESNET20_LAYERS)}


@dataclass(frozen=True)
class Workload:
    """One benchmark: an architecture trained (or run for inference) at a fixed batch size.

    ``optimizer`` is a ``torch.optim`` / ``scratchnet.optim`` class name, or None for
    inference (eval mode, no gradients). ``dataset`` names the real images used, or None
    for random data of ``input_shape``. ``sklearn`` adds scikit-learn's MLPClassifier
    (which only fits MLPs) to the comparison. ``cosine_epochs`` (time to accuracy) anneals the
    learning rate from ``lr`` to 0 over that many epochs (``CosineAnnealingLR``, stepped per epoch).
    ``momentum`` is SGD's (None: the optimiser's default).
    """

    name: str
    title: str
    layers: tuple
    input_shape: tuple
    batch: int
    optimizer: str | None
    lr: float = 0.0
    dataset: str | None = None
    sklearn: bool = False
    cosine_epochs: int | None = None
    momentum: float | None = None

    @property
    def training(self) -> bool:
        return self.optimizer is not None

    @property
    def optimizer_options(self) -> dict:
        """Keyword arguments of the optimiser, the same in both frameworks."""
        return {"lr": self.lr, **({"momentum": self.momentum} if self.momentum is not None else {})}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Workload":
        data = dict(data, layers=tuple(tuple(layer) for layer in data["layers"]),
                    input_shape=tuple(data["input_shape"]))
        return cls(**data)


WORKLOADS = {w.name: w for w in (
    Workload("mlp-b64", "MLP 784-256-128-10, batch 64, SGD", MLP_LAYERS, (784,), 64, "SGD", 0.01,
             "mnist", sklearn=True),
    Workload("mlp-b1", "MLP 784-256-128-10, batch 1, SGD", MLP_LAYERS, (784,), 1, "SGD", 0.01, "mnist"),
    Workload("mlp-infer-b1000", "MLP 784-256-128-10, inference, batch 1000", MLP_LAYERS, (784,), 1000,
             None, 0.0, "mnist"),
    Workload("cnn3-512-0.1", "CNN3-512-0.1, batch 500, Adam", CNN3_512_LAYERS, (1, 28, 28), 500, "Adam", 1e-3,
             "fashion-mnist"),
    Workload("cnn3-512-0.1-pad1", "CNN3-512-0.1 with padding=1, batch 500, Adam", CNN3_512_PAD1_LAYERS, (1, 28, 28),
             500, "Adam", 1e-3, "fashion-mnist"),
    Workload("lenet5", "LeNet-5 3x32x32, batch 64, SGD", LENET5_LAYERS, (3, 32, 32), 64, "SGD", 0.01),
    Workload("dense10k", "Dense 10,000-unit CIFAR net, batch 64, Adagrad", DENSE10K_LAYERS, (3, 32, 32), 64,
             "Adagrad", 0.01),
    Workload("resnet20", "ResNet-20 (the zoo's) 3x32x32, batch 128, SGD momentum 0.9", ZOO_RESNET20,
             (3, 32, 32), 128, "SGD", 0.1, momentum=0.9),
    Workload("resnet20-block", "ResNet-20 (user-written block) 3x32x32, batch 128, SGD momentum 0.9",
             RESNET20_LAYERS, (3, 32, 32), 128, "SGD", 0.1, momentum=0.9),
)}

# Time to accuracy: the CNN3-512-0.1 architecture on all of Fashion-MNIST, Adam with the learning
# rate annealed to 0 over the run's epochs (without it the recipe stops near 91 %), at batch 128
# or SEEDS 002's 500.
ACCURACY_EPOCHS, ACCURACY_BATCH = 15, 128


def accuracy_recipe(batch: int = ACCURACY_BATCH, epochs: int = ACCURACY_EPOCHS) -> Workload:
    return Workload(f"cnn3-512-0.1-b{batch}", f"CNN3-512-0.1, batch {batch}, Adam lr 1e-3, cosine over {epochs} "
                    "epochs", CNN3_512_LAYERS, (1, 28, 28), batch, "Adam", 1e-3, "fashion-mnist", cosine_epochs=epochs)


def split_args(args: tuple) -> tuple[tuple, dict]:
    """A layer spec's arguments as (positional, keyword)."""
    if args and isinstance(args[-1], dict):
        return tuple(args[:-1]), dict(args[-1])
    return tuple(args), {}


def build_model(nn, layers):
    """``nn.Sequential`` of ``layers`` from ``nn`` (the module ``scratchnet.nn`` or ``torch.nn``)."""
    from residual import basic_block

    if len(layers) == 1 and layers[0][0] == "Zoo":
        return zoo_model(nn, *layers[0][1:])

    def build(name, *args):
        positional, keyword = split_args(args)
        if name == "BasicBlock":
            return basic_block(nn, *positional)
        return getattr(nn, name)(*positional, **keyword)

    return nn.Sequential(*(build(*layer) for layer in layers))


def zoo_model(nn, name: str, in_channels: int):
    """Zoo model ``name`` from ``nn``: scratchnet's zoo, or for ``torch.nn`` its hand-written PyTorch twin
    with the same state_dict keys (tests/torch_resnets.py, which the zoo's tests check against)."""
    if nn.__name__.startswith("torch"):
        sys.path.insert(0, str(REPO / "tests"))
        from torch_resnets import TORCH_MODELS

        return TORCH_MODELS[name](in_channels)
    from scratchnet import zoo

    return zoo.build(name, (in_channels, 32, 32))[1]


def conv_gemm(shape: tuple, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> tuple[int, tuple]:
    """FLOPs and output shape of a Conv2d(cin, cout, k, stride, padding) on one (C, H, W) sample:
    a (Ho·Wo × cin·k·k)·(cin·k·k × cout) GEMM."""
    ho, wo = ((size + 2 * padding - k) // stride + 1 for size in shape[1:])
    return 2 * ho * wo * cin * k * k * cout, (cout, ho, wo)


def forward_gemm_flops(layers, input_shape) -> int:
    """Multiply-add FLOPs (2·M·N·K per GEMM) of one sample's forward pass through the
    Linear and Conv2d layers (and those inside residual blocks); other layers are counted as free.

    A Linear(in, out) is one (1×in)·(in×out) GEMM; a Conv2d is ``conv_gemm``'s GEMM.
    """
    if len(layers) == 1 and layers[0][0] == "Zoo":
        layers = ZOO_GEMM_LAYERS[layers[0][1]]
    shape, flops = tuple(input_shape), 0
    for name, *args in layers:
        positional, keyword = split_args(args)
        if name == "Linear":
            flops += 2 * positional[0] * positional[1]
            shape = (positional[1],)
        elif name == "Conv2d":
            cin, cout, k, *rest = positional
            stride, padding = (rest + [keyword.get("stride", 1), keyword.get("padding", 0)][len(rest):])[:2]
            conv, shape = conv_gemm(shape, cin, cout, k, stride, padding)
            flops += conv
        elif name == "BasicBlock":
            cin, cout, stride = positional
            first, mid = conv_gemm(shape, cin, cout, 3, stride, 1)
            second, out = conv_gemm(mid, cout, cout, 3, 1, 1)
            projection = (stride != 1 or cin != cout) and keyword.get("shortcut") != "pad"
            flops += first + second + (conv_gemm(shape, cin, cout, 1, stride)[0] if projection else 0)
            shape = out
        elif name in ("MaxPool2d", "AvgPool2d"):
            shape = (shape[0], shape[1] // positional[0], shape[2] // positional[0])
        elif name == "Flatten":
            shape = (math.prod(shape),)
    return flops


def step_gemm_flops(workload: Workload) -> int:
    """GEMM FLOPs per sample of one step: 3 GEMMs per layer when training (forward, input
    gradient, weight gradient), 1 for inference."""
    return forward_gemm_flops(workload.layers, workload.input_shape) * (3 if workload.training else 1)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def load_real(dataset: str):
    """A ``scratchnet.data.Dataset`` read from shared/datasets (or scratchnet's usual places), never downloaded."""
    from scratchnet.data.dataset import load

    folder = SHARED_DATASETS / DATASET_FOLDERS[dataset]
    return load(dataset, root=folder if folder.is_dir() else None, download=False, progress=False)


def as_inputs(images: np.ndarray, input_shape: tuple) -> np.ndarray:
    """uint8 (N, C, H, W) images scaled to [0, 1] float32, flattened when the model takes vectors."""
    return (images.astype(np.float32) / 255).reshape((len(images), *input_shape))


def sample_pool(workload: Workload, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``size`` inputs and labels for ``workload`` and where they came from.

    Real images when the workload names a dataset that can be read; otherwise (or if the
    dataset is missing) seeded random data of the right shape.
    """
    if workload.dataset is not None:
        try:
            data = load_real(workload.dataset)
            return as_inputs(data.x_train[:size], workload.input_shape), data.y_train[:size], data.name
        except (ImportError, OSError, RuntimeError, ValueError) as err:
            print(f"benchmarks: {workload.dataset} unavailable ({err}); using random data", file=sys.stderr)
    rng = np.random.default_rng(SEED)
    x = rng.random((size, *workload.input_shape), dtype=np.float32)
    return x, rng.integers(0, 10, size).astype(np.int64), "random"


def batches(x, y, batch: int) -> list:
    """Consecutive full batches of (x, y): views, so building them copies nothing."""
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]


def save_arrays(folder: Path, x: np.ndarray, y: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y.astype(np.int64))
    return str(folder)


def load_arrays(folder: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.load(Path(folder) / "x.npy", allow_pickle=False),
            np.load(Path(folder) / "y.npy", allow_pickle=False))

