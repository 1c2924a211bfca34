import math

import numpy as np
import pytest
import torch

from provmm.provenance.diffcore_mix import diffcore_mix, random_patch_mask


def _pair(batch=6, channels=3, height=12, width=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.rand(batch, channels, height, width, generator=gen)
    generated = torch.rand(batch, channels, height, width, generator=gen) + 2
    return real, generated


def test_patch_mix_reconstructs_exactly_from_real_generated_and_mask():
    real, generated = _pair()
    out = diffcore_mix(real, generated, pixel_prob=0., patch_size=4,
                       keep_ratio=0.5, rng=np.random.default_rng(0))
    mask = out.prov_mask.unsqueeze(1).expand_as(real).bool()
    assert out.has_provenance.all()
    assert torch.equal(out.mixed[mask], real[mask])
    assert torch.equal(out.mixed[~mask], generated[~mask])
    # 1 exactly on real pixels: generated values are >= 2, real ones < 1
    assert torch.equal(out.prov_mask.unsqueeze(1).expand_as(real),
                       (out.mixed < 1).float())
    assert torch.allclose(out.lam, out.prov_mask.mean(dim=(1, 2)))


def test_patch_mask_keeps_whole_cells_in_the_asked_number():
    masks = random_patch_mask(50, (12, 16), patch_size=4, keep_ratio=0.25,
                              rng=np.random.default_rng(1))
    cells = masks.reshape(50, 3, 4, 4, 4).transpose(0, 1, 3, 2, 4)
    cells = cells.reshape(50, 3, 4, 16)
    assert (cells.min(axis=-1) == cells.max(axis=-1)).all()  # constant cells
    assert (cells[..., 0].sum(axis=(1, 2)) == round(0.25 * 12)).all()
    assert len({m.tobytes() for m in masks}) > 40  # positions vary


def test_patch_mask_crops_partial_border_cells():
    masks = random_patch_mask(200, (10, 7), patch_size=(4, 3),
                              keep_ratio=0.5, rng=np.random.default_rng(2))
    assert masks.shape == (200, 10, 7)
    # 3 x 3 cells, round(4.5) = 4 kept (numpy rounds half to even)
    per_cell = masks[:, ::4, ::3]
    assert (per_cell.sum(axis=(1, 2)) == 4).all()
    assert set(np.unique(masks)) == {0., 1.}


def test_coin_is_fair_per_sample():
    n = 4000
    real, generated = _pair(batch=n, channels=1, height=4, width=4)
    out = diffcore_mix(real, generated, patch_size=2,
                       rng=np.random.default_rng(3))
    num_pixel = int((~out.has_provenance).sum())
    assert abs(num_pixel - n / 2) <= 4 * math.sqrt(n / 4)


def test_coin_is_fair_per_batch_and_shared_within_a_batch():
    rng = np.random.default_rng(4)
    real, generated = _pair(batch=8, channels=1, height=4, width=4)
    draws = 1000
    num_pixel = 0
    for _ in range(draws):
        out = diffcore_mix(real, generated, patch_size=2, per_sample=False,
                           rng=rng)
        assert out.has_provenance.all() or not out.has_provenance.any()
        num_pixel += int(not out.has_provenance[0])
    assert abs(num_pixel - draws / 2) <= 4 * math.sqrt(draws / 4)


def test_pixel_mix_carries_no_provenance_and_blends_by_lam():
    real, generated = _pair(batch=2000, channels=2, height=3, width=3)
    out = diffcore_mix(real, generated, pixel_prob=1.,
                       rng=np.random.default_rng(5))
    assert not out.has_provenance.any()
    # no pixel is purely real or generated: all ones, nothing penalised
    assert torch.equal(out.prov_mask, torch.ones(2000, 3, 3))
    lam = out.lam.view(-1, 1, 1, 1)
    assert torch.allclose(out.mixed, lam * real + (1 - lam) * generated,
                          atol=1e-6)
    # alpha = 1: lam ~ U(0, 1), mean 1/2, variance 1/12
    assert ((out.lam > 0) & (out.lam < 1)).all()
    assert abs(out.lam.mean().item() - 0.5) < 4 * math.sqrt(1 / 12 / 2000)
    assert abs(out.lam.var().item() - 1 / 12) < 0.01


def test_same_numpy_seed_gives_the_same_mix():
    real, generated = _pair()
    np.random.seed(7)
    first = diffcore_mix(real, generated, patch_size=4)
    np.random.seed(7)
    second = diffcore_mix(real, generated, patch_size=4)
    assert torch.equal(first.mixed, second.mixed)
    assert torch.equal(first.prov_mask, second.prov_mask)


def test_mask_shape_dtype_and_device_follow_the_inputs():
    real, generated = _pair(batch=3, height=10, width=7)
    out = diffcore_mix(real.double(), generated.double(), patch_size=3,
                       rng=np.random.default_rng(6))
    assert out.mixed.shape == (3, 3, 10, 7)
    assert out.prov_mask.shape == (3, 10, 7)
    assert out.prov_mask.dtype == torch.float64
    assert out.has_provenance.shape == out.lam.shape == (3, )
    assert out.has_provenance.dtype == torch.bool


@pytest.mark.parametrize('generated_shape', [(6, 3, 12, 11), (6, 12, 12)])
def test_mismatched_shapes_are_refused(generated_shape):
    real = torch.rand(6, 3, 12, 12)
    with pytest.raises(ValueError, match='same shape'):
        diffcore_mix(real, torch.rand(generated_shape))


def test_integer_images_and_bad_arguments_are_refused():
    real = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(TypeError, match='floating point'):
        diffcore_mix(real, real)
    real = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match='pixel_prob'):
        diffcore_mix(real, real, pixel_prob=1.5)
    with pytest.raises(ValueError, match='keep_ratio'):
        diffcore_mix(real, real, keep_ratio=-0.1)
    with pytest.raises(ValueError, match='patch_size'):
        diffcore_mix(real, real, patch_size=0)
    with pytest.raises(ValueError, match='alpha'):
        diffcore_mix(real, real, alpha=0)
