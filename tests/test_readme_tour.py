"""README.md's "A quick tour", run as written: every command of its bash block in order, in a
fresh folder, and its Python blocks, so that the README and the code cannot drift apart.

Only the sizes shrink, so that the tour takes a minute instead of half an hour: each training
command gets flags that train on a few hundred images for one epoch (given after the README's
own, so they win), and `serve` listens on a free port and is stopped once it answers. The
photo the tour asks for ("your photo of a digit") is drawn here. The datasets must be on disk
(tests never download): Fashion-MNIST and mnist-10k, as this project's workspace has them.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, dataset_dir
from PIL import Image, ImageDraw

SMALL_TRAIN = ["--train-subset", "300", "--val-size", "100", "--test-subset", "200", "--epochs", "1",
               "--batch-size", "50", "--threads", "1"]
SMALL_SEARCH = ["--set", "train-subset=200", "--set", "val-size=50", "--set", "test-subset=100", "--set", "epochs=1",
                "--set", "batch-size=50"]


def tour_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text[text.index("## A quick tour"):text.index("\n## ", text.index("## A quick tour") + 1)]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", tour_section(), re.S)


def tour_commands() -> list[list[str]]:
    """The bash block's commands: continuation lines joined, comments dropped."""
    [block] = code_blocks("bash")
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def smaller(argv: list[str]) -> list[str]:
    """The same command on a few hundred images (the README's flags stay; these come after them)."""
    if argv[1] == "train" and "--resume" in argv:
        return argv + ["--epochs", "2"]
    if argv[1] == "train":
        return argv + SMALL_TRAIN
    if argv[1] == "search":
        return argv + SMALL_SEARCH
    if argv[1] == "reproduce" and len(argv) > 2 and "--list" not in argv:
        assert "--quick" in argv, "a full reproduction in the tour would take minutes"
    return argv


def write_photo(path: Path) -> None:
    """A phone-like photo of a handwritten 7: dark ink on light, unevenly lit paper."""
    photo = Image.new("RGB", (240, 320), (226, 222, 212))
    ImageDraw.Draw(photo).line([(60, 80), (180, 80), (110, 260)], fill=(40, 40, 50), width=16)
    photo.save(path, quality=90)


@pytest.fixture(scope="module")
def tour_env():
    dataset_dir("fashion-mnist"), dataset_dir("mnist-10k")  # skip where the datasets are not on disk
    env = {key: value for key, value in os.environ.items() if key not in ("SCRATCHNET_DATA", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(PYTHONPATH=str(REPO), NO_COLOR="1", MPLBACKEND="Agg")
    return env


def run(argv: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    assert argv[0] == "scratchnet", f"the tour's commands are scratchnet commands: {argv}"
    result = subprocess.run([sys.executable, "-m", "scratchnet", *argv[1:]], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"`{shlex.join(argv)}` failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return result


def serve_until_it_answers(argv: list[str], cwd: Path, env: dict) -> dict:
    process = subprocess.Popen([sys.executable, "-m", "scratchnet", *argv[1:], "--port", "0"], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+/", line)
        assert url, f"serve printed {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        with urllib.request.urlopen(url.group(0) + "info", timeout=30) as response:
            return {"line": line, "info": json.loads(response.read())}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_tour_runs_as_written(tmp_path, tour_env):
    commands = tour_commands()
    assert [argv[1] for argv in commands][:3] == ["datasets", "explore", "models"]
    write_photo(tmp_path / "photo.jpg")
    outputs = {}
    for argv in commands:
        if argv[1] == "serve":
            outputs["serve"] = serve_until_it_answers(argv, tmp_path, tour_env)
            continue
        outputs.setdefault(argv[1], []).append(run(smaller(argv), tmp_path, tour_env).stdout)

    assert re.search(r"^mnist-10k .*\[MNIST 10k subset", outputs["datasets"][0], re.M)
    assert (tmp_path / "explore" / "fashion-mnist" / "class_counts.png").is_file()
    assert "memory for a batch of" in outputs["models"][1]
    digits = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())
    assert digits["dataset"] == "mnist-10k" and "MNIST 10k subset" in digits["dataset_note"]
    assert "note: MNIST 10k subset" in outputs["train"][0]  # labelled as a subset where its numbers are printed
    assert (tmp_path / "runs" / "latest").resolve() == (tmp_path / "runs" / "fashion").resolve()
    assert outputs["predict"][0].startswith("photo.jpg: ") and (tmp_path / "why.png").is_file()
    assert outputs["serve"]["info"]["handwriting"] and "Drawing page for digits" in outputs["serve"]["line"]
    assert "conv2-fashion" in outputs["reproduce"][0]
    assert (tmp_path / "runs" / "grid" / "results.csv").is_file()


def test_the_tours_python_runs_as_written(tmp_path, tour_env, monkeypatch):
    import scratchnet
    from scratchnet.train import TrainConfig

    def small_config(**settings):
        return TrainConfig(**settings, **{"train_subset": 300, "val_size": 100, "test_subset": 100, "epochs": 1,
                                          "batch_size": 50})

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    for block in code_blocks("python"):
        if "TrainConfig(" in block:  # the same settings, on fewer images
            block = re.sub(r"epochs=\d+, ", "", block)
            monkeypatch.setattr(scratchnet, "TrainConfig", small_config, raising=False)
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "mlp2" / "metrics.json").is_file()
