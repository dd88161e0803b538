"""Named recipes: every one is a valid run for its dataset, flags override it, bad combinations say what to change."""
from __future__ import annotations

import json

import pytest
from conftest import dataset_dir

from scratchnet import data, zoo
from scratchnet.cli import main
from scratchnet.train import ConfigError, TrainConfig
from scratchnet.train.recipes import RECIPES, recipe_config


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_config_whose_model_fits_its_dataset(name):
    config = TrainConfig.from_recipe(name)
    config.validate()
    assert config.recipe == name
    info = data.registry.info(config.dataset)
    zoo.spec(config.model, info.image_shape, len(info.classes))  # builds for the dataset's images


def test_families_cover_digits_fashion_and_cifar():
    datasets = {recipe.settings["dataset"] for recipe in RECIPES.values()}
    assert {"fashion-mnist", "cifar-10"} <= datasets and any(d.startswith("mnist") for d in datasets)


def test_overrides_win_and_epochs_replace_a_time_budget():
    config = recipe_config("fashion-vgg", lr=0.01, epochs=3)
    assert config.lr == 0.01 and config.epochs == 3 and config.time_budget is None
    assert config.schedule == RECIPES["fashion-vgg"].settings["schedule"]
    kept = recipe_config("fashion-vgg", epochs=3, time_budget=60.0)
    assert kept.time_budget == 60.0


def test_unknown_recipe_lists_the_recipes(capsys):
    with pytest.raises(ConfigError, match="there is no recipe 'nope'; the recipes are digits-vgg, fashion-vgg"):
        recipe_config("nope")
    assert main(["train", "--recipe", "nope"]) == 2
    assert "the recipes are" in capsys.readouterr().err


def test_a_dataset_with_other_images_says_which_setting_to_change():
    with pytest.raises(ConfigError, match=r"cifar-vgg is made for 3×32×32 images .* 1×28×28 images; use a recipe "
                                          r"for them \(digits-vgg, fashion-vgg\), or give --model"):
        recipe_config("cifar-vgg", dataset="mnist")
    recipe_config("cifar-vgg", dataset="mnist", model="mlp2")  # another model: the user's choice
    with pytest.raises(ConfigError, match="flips images left-right.*--augment without flip"):
        recipe_config("fashion-vgg", dataset="mnist")


def test_train_recipe_runs_it_with_flags_overriding(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--recipe", "digits-vgg", "--root", str(dataset_dir("mnist-10k")), "--model", "mlp2-32-16",
            "--epochs", "1", "--train-subset", "300", "--val-size", "100", "--test-subset", "100",
            "--batch-size", "50", "--threads", "1", "--out", str(out), "--no-report", "--quiet"]
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "digits-vgg" and config["model"] == "mlp2-32-16" and config["epochs"] == 1
    assert (config["schedule"], config["augment"], config["ema_decay"]) == ("onecycle", "affine+blur", 0.999)
    assert json.loads((out / "metrics.json").read_text())["recipe"] == "digits-vgg"


def test_recipes_command_lists_each_recipe_with_its_measurement_or_its_absence(capsys):
    assert main(["recipes"]) == 0
    table = capsys.readouterr().out
    for name, recipe in RECIPES.items():
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert recipe.settings["model"] in row
        assert (f"{recipe.measured.test_accuracy:.2%}" if recipe.measured else "not measured yet") in row
    assert main(["recipes", "cifar-vgg"]) == 0
    details = capsys.readouterr().out
    assert "augment: crop+flip+cutmix" in details and "scratchnet train --recipe cifar-vgg" in details
