"""The engine imports nothing but NumPy: no workflow module, and it runs without threadpoolctl."""
import numpy as np
from conftest import run_python

import scratchnet
from scratchnet import nn
from scratchnet.nn import parallel


def test_engine_imports_no_workflow_module():
    run_python(
        "import sys, scratchnet.nn, scratchnet.optim\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL', 'tqdm', 'torch')"
        " or m.startswith(('scratchnet.data', 'scratchnet.train', 'scratchnet.report'))]\n"
        "assert not bad, bad\n"
    )


def test_engine_runs_without_threadpoolctl():
    run_python(
        "import sys; sys.modules['threadpoolctl'] = None\n"
        "import numpy as np; from scratchnet import nn\n"
        "x = np.ones((4, 3, 8, 8), np.float32); m = nn.Conv2d(3, 2, 3)\n"
        "m.backward(np.ones_like(m(x)))\n"
    )


def test_serial_blocks_give_the_same_result(monkeypatch):
    scratchnet.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.MaxPool2d(2))
    x = np.random.default_rng(0).normal(size=(64, 3, 20, 20)).astype(np.float32)
    threaded = model(x)
    monkeypatch.setattr(parallel, "_blas", lambda: None)
    np.testing.assert_allclose(threaded, model(x), rtol=1e-5, atol=1e-5)  # BLAS rounding may differ


def test_workflow_names_load_lazily():
    assert scratchnet.fit.__name__ == "fit" and scratchnet.TrainConfig.__name__ == "TrainConfig"
