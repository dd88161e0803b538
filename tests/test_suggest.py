"""Did-you-mean suggestions (scratchnet.suggest): closest names first."""
from scratchnet.suggest import close_names, did_you_mean, edit_distance


def test_closest_name_comes_first_when_difflib_ties():
    names = ["resnet20", "resnet32", "resnet44", "lenet5"]
    assert close_names("resnet2O", names)[0] == "resnet20"
    assert did_you_mean("resnet2O", names).startswith("; did you mean 'resnet20'")


def test_suggestions_keep_case_and_drop_far_names():
    assert close_names("MLP", ["mlp", "cnn"]) == ["mlp"]
    assert close_names("zzzz", ["mlp", "cnn"]) == [] and did_you_mean("zzzz", ["mlp"]) == ""


def test_edit_distance():
    assert edit_distance("resnet2o", "resnet20") == 1 and edit_distance("resnet2o", "resnet32") == 2
    assert edit_distance("", "abc") == 3 and edit_distance("kitten", "sitting") == 3
