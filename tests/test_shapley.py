"""Shapley values, KernelSHAP, LIME and feature ablation against independent references:
brute force over every order of the features, Captum's implementations, closed forms."""
from __future__ import annotations

import pytest
import torch
from captum.attr import FeatureAblation
from torch import nn

from xaitutor import models, saliency


def _cnn(seed: int = 0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return models.SmallCNN(1, 3, width=8).to(dtype).eval()


def _blocks(h: int = 8, w: int = 8, size: int = 4) -> torch.Tensor:
    """(1, 1, h, w) ids of size×size blocks."""
    rows, cols = torch.arange(h) // size, torch.arange(w) // size
    return (rows[:, None] * ((w + size - 1) // size) + cols[None, :])[None, None]


@pytest.mark.parametrize("mask_kind", ["blocks", "per-sample", "none"])
def test_feature_ablation_equals_captum(mask_kind):
    model = _cnn(1)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = {"blocks": _blocks(size=3),
            "per-sample": torch.randint(0, 5, (3, 1, 8, 8), generator=torch.Generator().manual_seed(1)),
            "none": None}[mask_kind]
    target = torch.tensor([0, 2, 1])
    ours = saliency.feature_ablation(model, x, target, mask, baseline=0.2)
    theirs = FeatureAblation(model).attribute(x, target=target, feature_mask=mask, baselines=0.2)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert ours.abs().max() > 1e-3                         # something was ablated


def test_feature_ablation_of_one_group_is_the_score_drop_written_out():
    model = _cnn(2, torch.float64)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    mask = _blocks(size=4)                                  # 4 groups
    ours = saliency.feature_ablation(model, x, 1, mask)
    with torch.no_grad():
        for g in range(4):
            ablated = torch.where(mask == g, 0.0, x)
            drop = model(x)[0, 1] - model(ablated)[0, 1]
            assert torch.allclose(ours[mask.expand_as(x) == g], drop, atol=1e-12)
