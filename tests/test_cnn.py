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


def test_wrong_image_shape_is_named():
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\), got \(2, 64\); reshape"):
        digits_cnn()(torch.zeros(2, 64))
    with pytest.raises(ValueError, match=r"got \(2, 3, 8, 8\)"):
        digits_cnn()(torch.zeros(2, 3, 8, 8))


def test_batch_norm_variant_drops_the_redundant_conv_bias():
    plain, bn = digits_cnn(8, 4), digits_cnn(8, 4, batch_norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn) == 2
    # each BatchNorm adds a scale and a shift per channel and removes the conv's bias: the count is unchanged + c
    assert num_params(bn) == num_params(plain) + 8 + 4
    assert bn.eval()(torch.rand(3, 1, 8, 8)).shape == (3, 10)
