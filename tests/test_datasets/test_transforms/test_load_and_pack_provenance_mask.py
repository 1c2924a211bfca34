import cv2
import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import RandomResizedCrop

from provmm.datasets.transforms import (LoadProvenanceMask,
                                        PackProvenanceInputs,
                                        ProvenanceRandomResizedCrop)


def _image_results(height=6, width=8):
    img = np.zeros((height, width, 3), np.uint8)
    return dict(img=img, img_path='edited.png', img_shape=(height, width),
                ori_shape=(height, width), gt_label=1, group=3)


def _write_png(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


def test_real_image_without_mask_path_gets_an_all_ones_mask():
    for results in (_image_results(), dict(_image_results(),
                                           prov_mask_path=None)):
        mask = LoadProvenanceMask()(results)['prov_mask']
        assert mask.dtype == np.float32 and mask.shape == (6, 8)
        assert (mask == 1).all()


def test_mask_png_255_is_target_and_0_is_edited(tmp_path):
    png = np.full((6, 8), 255, np.uint8)
    png[1:4, 2:7] = 0
    results = dict(_image_results(),
                   prov_mask_path=_write_png(tmp_path / 'm.png', png))
    mask = LoadProvenanceMask()(results)['prov_mask']
    np.testing.assert_array_equal(mask, (png == 255).astype(np.float32))


def test_grey_colour_png_is_read_as_its_single_channel(tmp_path):
    png = np.zeros((6, 8, 3), np.uint8)
    png[:, :4] = 255
    results = dict(_image_results(),
                   prov_mask_path=_write_png(tmp_path / 'm.png', png))
    mask = LoadProvenanceMask()(results)['prov_mask']
    assert mask[:, :4].all() and not mask[:, 4:].any()


@pytest.mark.parametrize('png, message', [
    (np.ones((6, 8), np.uint8), r'values \[1\]'),
    (np.full((5, 8), 255, np.uint8), '8x5'),
    (np.dstack([np.zeros((6, 8), np.uint8), np.full((6, 8), 255, np.uint8),
                np.zeros((6, 8), np.uint8)]), 'channels'),
])
def test_bad_mask_png_is_refused_naming_the_file(tmp_path, png, message):
    path = _write_png(tmp_path / 'bad.png', png)
    with pytest.raises(ValueError, match=message) as error:
        LoadProvenanceMask()(dict(_image_results(), prov_mask_path=path))
    assert 'bad.png' in str(error.value)


def test_missing_mask_file_is_named(tmp_path):
    path = str(tmp_path / 'missing.png')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadProvenanceMask()(dict(_image_results(), prov_mask_path=path))


def test_pack_puts_float_mask_tensor_and_group_into_the_sample():
    results = _image_results()
    mask = np.zeros((6, 8), np.float32)
    mask[2:, 3:] = 1
    results['prov_mask'] = mask
    packed = PackProvenanceInputs()(results)
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 6, 8)
    assert isinstance(sample.prov_mask, torch.Tensor)
    assert sample.prov_mask.dtype == torch.float32
    torch.testing.assert_close(sample.prov_mask, torch.from_numpy(mask))
    assert sample.group == 3
    assert int(sample.gt_label) == 1


def test_pack_without_mask_adds_none():
    sample = PackProvenanceInputs()(_image_results())['data_samples']
    assert 'prov_mask' not in sample


def test_pack_refuses_a_mask_left_behind_by_a_plain_transform():
    results = LoadProvenanceMask()(_image_results(40, 50))
    results = RandomResizedCrop(scale=16)(results)  # moves only the image
    with pytest.raises(ValueError, match='did not move the mask'):
        PackProvenanceInputs()(results)
    results = LoadProvenanceMask()(_image_results(40, 50))
    results = ProvenanceRandomResizedCrop(scale=16)(results)
    assert PackProvenanceInputs()(results)['data_samples'].prov_mask.shape \
        == (16, 16)
