"""nn._utils: pair arguments and output sizes agree with PyTorch; checks name the module and both shapes."""
import itertools

import numpy as np
import pytest
import torch

from scratchnet.nn import ReLU
from scratchnet.nn._utils import as_pair, check_array, check_grad_output, check_input, output_size


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", [
    (size, kernel, stride, padding, dilation)
    for size, kernel, stride, padding, dilation in itertools.product((5, 6, 7, 11), (1, 2, 3), (1, 2, 3), (0, 1), (1, 2))
    if 2 * padding <= kernel and size + 2 * padding >= dilation * (kernel - 1) + 1
])
def test_output_size_matches_torch_pooling_in_both_rounding_modes(size, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, size, size)
    for ceil_mode in (False, True):
        expected = torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode).shape[-1]
        assert output_size(size, kernel, stride, padding, dilation, ceil_mode) == expected


def test_as_pair_accepts_ints_and_pairs_and_names_bad_values():
    assert as_pair(3, "kernel_size", 1) == (3, 3)
    assert as_pair((2, np.int64(4)), "stride", 1) == (2, 4)
    for bad in (0, (1, 2, 3), (1, 0), 1.5, "2"):
        with pytest.raises(ValueError, match=r"kernel_size must be an int or a pair of ints >= 1"):
            as_pair(bad, "kernel_size", 1)


def test_checks_name_the_module_and_the_shapes():
    module = ReLU()
    with pytest.raises(ValueError, match=r"ReLU\(\): expected a NumPy array, got list"):
        check_array(module, [1.0])
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\), got \(2, 4\)"):
        check_input(module, np.zeros((2, 4), np.float32), (None, 3))
    with pytest.raises(ValueError, match=r"expected input of dtype float32, got float64"):
        check_input(module, np.zeros((2, 3)), (None, 3), np.dtype(np.float32))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3\), got \(3, 2\)"):
        check_grad_output(module, np.zeros((3, 2)), (2, 3))
