"""book.nn.cnn: the digits CNN's shapes, parameter count (a closed form) and input errors."""

from __future__ import annotations

import pytest
import torch

from book.nn.cnn import digits_cnn, num_params


@pytest.mark.parametrize("c1,c2", [(32, 16), (3, 5), (1, 1)])
def test_shapes_and_parameter_count(c1, c2):
    model = digits_cnn(c1, c2)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    # conv1 (9 weights + 1 bias per map), conv2 (9·c1 + 1 per map), head (4·c2 + 1 per class)
    assert num_params(model) == c1 * 10 + c2 * (9 * c1 + 1) + 10 * (4 * c2 + 1)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="c1"):
        digits_cnn(0, 4)
    with pytest.raises(ValueError, match="n_classes"):
        digits_cnn(4, 4, n_classes=1)
