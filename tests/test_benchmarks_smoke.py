"""Smoke tests of benchmarks/: every code path runs for a step or two at tiny sizes, so the
benchmarks cannot rot. They check the structure of the output, never the speed."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("sklearn") is None:
    pytest.skip("the benchmarks compare with PyTorch and scikit-learn (the test extra)", allow_module_level=True)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import isolation  # noqa: E402  (benchmarks/isolation.py)
import runners  # noqa: E402
import suite  # noqa: E402
import workloads  # noqa: E402
from conftest import dataset_dir  # noqa: E402
import engine  # noqa: E402


def test_gemm_flops_are_counted_per_layer():
    # MLP: 2·(784·256 + 256·128 + 128·10) per sample forward, 3 GEMMs per layer when training.
    mlp = workloads.WORKLOADS["mlp-b64"]
    assert workloads.forward_gemm_flops(mlp.layers, mlp.input_shape) == 469_504
    assert workloads.step_gemm_flops(mlp) == 3 * 469_504
    assert workloads.step_gemm_flops(workloads.WORKLOADS["mlp-infer-b1000"]) == 469_504
    # CNN3-512: conv 26·26·(1·9)·32, conv 11·11·(32·9)·64, then 1600·512 and 512·10, times 2.
    cnn = workloads.WORKLOADS["cnn3-512-0.1"]
    expected = 2 * (26 * 26 * 9 * 32 + 11 * 11 * 32 * 9 * 64 + 1600 * 512 + 512 * 10)
    assert workloads.forward_gemm_flops(cnn.layers, cnn.input_shape) == expected


def test_padded_and_residual_workloads_count_their_gemms():
    # CNN3 with padding=1: 28x28 and 14x14 outputs, and a 64·7·7 = 3136-wide Linear.
    padded = workloads.WORKLOADS["cnn3-512-0.1-pad1"]
    expected = 2 * (28 * 28 * 9 * 32 + 14 * 14 * 32 * 9 * 64 + 3136 * 512 + 512 * 10)
    assert workloads.forward_gemm_flops(padded.layers, padded.input_shape) == expected
    # A residual block that halves 32x32 to 16x16 and widens 16 -> 32: two 3x3 convs and a 1x1 shortcut.
    block = (("BasicBlock", 16, 32, 2),)
    expected = 2 * 16 * 16 * (16 * 9 * 32 + 32 * 9 * 32 + 16 * 32)
    assert workloads.forward_gemm_flops(block, (16, 32, 32)) == expected


@pytest.mark.parametrize("stride, widen", [(1, 1), (2, 2)])
def test_the_user_written_residual_block_matches_pytorch(stride, widen):
    import torch

    import scratchnet
    from scratchnet import nn
    from residual import basic_block

    scratchnet.manual_seed(0)
    ours, theirs = basic_block(nn, 4, 4 * widen, stride).double(), basic_block(torch.nn, 4, 4 * widen, stride).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()}, strict=False)
    x = np.random.default_rng(0).standard_normal((3, 4, 6, 6))
    g = np.random.default_rng(1).standard_normal((3, 4 * widen, 6 // stride, 6 // stride))
    x_torch = torch.from_numpy(x).requires_grad_()
    y_torch = theirs(x_torch)
    y_torch.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours(x), y_torch.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.backward(g), x_torch.grad.numpy(), rtol=1e-10, atol=1e-10)
    grads = {name: p.grad for name, p in theirs.named_parameters()}
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_the_zoo_resnet20_starts_from_the_same_weights_in_both_frameworks(tmp_path):
    import torch

    resnet = workloads.WORKLOADS["resnet20"]
    # The zoo's shortcuts pad with zeros: the user-written block's two 1x1 projections are not counted.
    projections = 2 * (16 * 16 * 16 * 32 + 8 * 8 * 32 * 64)
    block = workloads.WORKLOADS["resnet20-block"]
    assert workloads.forward_gemm_flops(resnet.layers, resnet.input_shape) == \
        workloads.forward_gemm_flops(block.layers, block.input_shape) - projections
    ours = runners.RUNNERS["scratchnet"](resnet, tmp_path / "weights.npz", 1)
    theirs = runners.RUNNERS["torch"](resnet, tmp_path / "weights.npz", 1)  # raises if the state_dicts differ
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(torch.from_numpy(x)), rtol=1e-4, atol=1e-4)


def test_workload_survives_json():
    for workload in workloads.WORKLOADS.values():
        assert workloads.Workload.from_json(json.loads(json.dumps(workload.to_json()))) == workload


def test_engine_workloads_are_the_issue_2_ones():
    assert [workloads.WORKLOADS[name].batch for name in engine.ENGINE_WORKLOADS] == [64, 1, 500]


def test_unknown_workload_is_refused_with_the_choices():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "performance.py"), "--only", "mlp-b64,nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown workload(s) nope" in result.stderr and "cnn3-512-0.1" in result.stderr


def run_performance(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "performance.py"), "--quick", "--threads", "1", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_quick_run_reports_every_framework(tmp_path):
    out = tmp_path / "report.json"
    result = run_performance("--only", "mlp-b64,mlp-infer-b1000", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "| workload | data | scratchnet samples/s | PyTorch samples/s | ratio |" in result.stdout

    report = json.loads(out.read_text())
    assert report["quick"] and report["threads"] == 1 and min(report["sgemm_gflops_range"]) > 0
    assert "time_to_accuracy" not in report
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"mlp-b64", "mlp-infer-b1000"}
    assert set(rows["mlp-b64"]["results"]) == {"scratchnet", "torch", "torch-mallopt", "sklearn"}
    assert set(rows["mlp-infer-b1000"]["results"]) == {"scratchnet", "torch", "torch-mallopt"}
    assert all(len(row["ratio_per_round"]["torch"]) == 1 for row in rows.values())
    # The measuring processes ran without the OpenBLAS overrides, and say which kernels ran.
    assert "OPENBLAS_CORETYPE" not in report["environment"] or report["environment"].startswith("removed ")
    assert report["blas_architecture"] and "kernels" in result.stdout
    for row in rows.values():
        for framework, measured in row["results"].items():
            assert "error" not in measured, (framework, measured)
            assert measured["samples_per_s"] > 0 and measured["peak_rss_mib"] > 0
            assert measured["sgemm_gflops"] > 0 and measured["gemm_fraction"] > 0
            assert measured["blas_architecture"] in report["blas_architecture"]


def test_quick_time_to_accuracy_trains_both_frameworks_on_fashion_mnist(tmp_path):
    dataset_dir("fashion-mnist")  # skips where there is no copy
    out = tmp_path / "report.json"
    result = run_performance("--only", "mlp-infer-b1000", "--time-to-accuracy", "--accuracy-batch", "64",
                             "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "Time to 92% test accuracy" in result.stdout
    report = json.loads(out.read_text())["time_to_accuracy"]
    assert report["recipe"].startswith("CNN3-512-0.1, batch 64, Adam lr 1e-3, cosine over 2 ")
    assert report["alternated"] == "epoch by epoch"
    for framework, measured in report["results"].items():
        assert "error" not in measured, (framework, measured)
        assert measured["epochs"] == 2 and 0 <= measured["test_accuracy"] <= 1
        assert [h["epoch"] for h in measured["history"]] == [1, 2]
        assert 0 < measured["history"][0]["train_seconds"] < measured["history"][1]["train_seconds"]


def test_time_to_accuracy_without_fashion_mnist_says_so_before_measuring(isolated_data_places, monkeypatch, tmp_path,
                                                                         capsys):
    import performance

    monkeypatch.setattr(workloads, "SHARED_DATASETS", tmp_path / "nowhere")
    with pytest.raises(SystemExit) as exit_:
        performance.main(["--quick", "--only", "mlp-b1", "--time-to-accuracy"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--time-to-accuracy trains on Fashion-MNIST, which is not on this machine" in err
    assert "fashion-mnist" in err and "measured" not in err


class RecordingServers:
    """Stands in for isolation.Servers: records requests, answers epochs from a script of accuracies."""

    def __init__(self, accuracies: dict):
        self.accuracies, self.log, self.epochs = accuracies, [], {name: 0 for name in accuracies}

    def request(self, framework: str, request: dict) -> dict:
        self.log.append((framework, request["kind"]))
        if request["kind"] != "accuracy-epoch":
            return {}
        self.epochs[framework] += 1
        epoch = self.epochs[framework]
        accuracy = self.accuracies[framework][epoch - 1]
        if accuracy is None:
            return {"error": "boom"}
        return {"epoch": epoch, "train_seconds": 10.0 * epoch, "test_accuracy": accuracy, "peak_rss_mib": 100 + epoch}


def test_time_to_accuracy_alternates_frameworks_epoch_by_epoch():
    servers = RecordingServers({"scratchnet": [0.5, 0.93], "torch": [0.5, 0.6, 0.7]})
    results = suite.alternate_epochs(servers, {"kind": "accuracy-start"}, target=0.92, max_epochs=3)
    assert servers.log == [
        ("scratchnet", "accuracy-start"), ("torch", "accuracy-start"),
        ("scratchnet", "accuracy-epoch"), ("torch", "accuracy-epoch"),
        ("scratchnet", "accuracy-epoch"), ("scratchnet", "accuracy-end"), ("torch", "accuracy-epoch"),
        ("torch", "accuracy-epoch"), ("torch", "accuracy-end")]
    assert results["scratchnet"]["reached"] and results["scratchnet"]["epochs"] == 2
    assert results["scratchnet"]["train_seconds"] == 20.0 and results["scratchnet"]["peak_rss_mib"] == 102
    assert not results["torch"]["reached"] and results["torch"]["epochs"] == 3
    assert [h["test_accuracy"] for h in results["torch"]["history"]] == [0.5, 0.6, 0.7]


def test_time_to_accuracy_reports_a_framework_error_and_ends_its_run():
    servers = RecordingServers({"scratchnet": [0.5, 0.6], "torch": [None]})
    results = suite.alternate_epochs(servers, {"kind": "accuracy-start"}, target=0.92, max_epochs=2)
    assert results["torch"] == {"error": "boom"}
    assert ("torch", "accuracy-end") in servers.log and results["scratchnet"]["epochs"] == 2


def test_a_run_that_fails_after_some_epochs_keeps_them():
    servers = RecordingServers({"scratchnet": [0.5, None], "torch": [0.5, 0.6]})
    results = suite.alternate_epochs(servers, {"kind": "accuracy-start"}, target=0.92, max_epochs=2)
    assert results["scratchnet"]["error"] == "boom"
    assert [h["test_accuracy"] for h in results["scratchnet"]["history"]] == [0.5]


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # no training steps here
def test_accuracy_recipe_anneals_the_same_learning_rates_in_both_frameworks(tmp_path):
    recipe = workloads.accuracy_recipe(batch=8, epochs=4)
    assert workloads.Workload.from_json(json.loads(json.dumps(recipe.to_json()))) == recipe
    models = [runners.RUNNERS[name](recipe, tmp_path / "weights.npz", 1) for name in ("scratchnet", "torch")]
    rates = []
    for runner in models:
        lrs = []
        for _ in range(4):
            runner.schedule.step()
            lrs.append(runner.optimizer.param_groups[0]["lr"])
        rates.append(lrs)
    np.testing.assert_allclose(rates[0], rates[1], rtol=1e-12)
    assert rates[0][-1] == pytest.approx(0.0, abs=1e-12) and rates[0][0] < 1e-3  # down to 0 over 4 epochs


def test_a_failing_time_to_accuracy_run_reports_its_error_and_the_server_goes_on(tmp_path):
    request = {"kind": "accuracy-start", "workload": workloads.accuracy_recipe(batch=8, epochs=1).to_json(),
               "threads": 1, "weights": str(tmp_path / "weights.npz"), "max_epochs": 1,
               "data": str(tmp_path / "missing"), "test_data": str(tmp_path / "missing")}
    with isolation.Servers() as servers:
        results = suite.alternate_epochs(servers, request, target=0.92, max_epochs=1)
        assert servers.request("scratchnet", {"kind": "accuracy-start", **request}) == {}  # still answering
        servers.request("scratchnet", {"kind": "accuracy-end"})
        assert "send accuracy-start first" in servers.request("scratchnet", {"kind": "accuracy-epoch"})["error"]
        assert servers.request("scratchnet", {"kind": "accuracy-start", **request}) == {}  # and still answering
        servers.request("scratchnet", {"kind": "accuracy-end"})
    for framework in ("scratchnet", "torch"):
        assert "No such file" in results[framework]["error"], results[framework]


def test_an_epoch_session_ends_quietly_when_its_server_goes_away(tmp_path):
    request = {"workload": workloads.accuracy_recipe(batch=8, epochs=1).to_json(), "threads": 1,
               "weights": str(tmp_path / "weights.npz"), "max_epochs": 1, "data": str(tmp_path / "missing"),
               "test_data": str(tmp_path / "missing")}
    session = isolation.EpochSession("scratchnet", request)
    session.conn.close()  # as when the server process dies
    session.child.join(timeout=30)
    try:
        assert session.child.exitcode == 0
    finally:
        session.child.kill()


def processes_in_group(group: int) -> int:
    """How many live processes have process group ``group`` (Linux /proc; the fields after the name's ')')."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited while we looked
            continue
        count += fields[0] != "Z" and int(fields[2]) == group
    return count


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts a process group's members through Linux /proc")
def test_ctrl_c_ends_a_benchmark_with_one_line_not_a_traceback_per_process():
    # Ctrl-C goes to the terminal's whole process group: the script, its server and the server's measuring child.
    # The script starts with SIGINT's default disposition, as from a terminal: an ignored SIGINT (which an earlier
    # test can leave in this process) would be inherited, and Python then installs no KeyboardInterrupt handler.
    process = subprocess.Popen([sys.executable, str(BENCHMARKS / "performance.py"), "--threads", "1",
                                "--seconds", "60", "--rounds", "1", "--only", "mlp-b64"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while processes_in_group(process.pid) < 3 and time.monotonic() < deadline:  # measuring in a forked child
            time.sleep(0.2)
        assert processes_in_group(process.pid) >= 3, "the benchmark never started measuring"
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "benchmark interrupted" in stderr and "Traceback" not in stderr, stderr
    assert processes_in_group(process.pid) == 0
