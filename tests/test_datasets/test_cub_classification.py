import os.path as osp

import pytest
from fake_classification_data import (data_infos, write_cub,
                                      write_edit_manifest, write_text)

from provmm.datasets import CUBClassificationDataset


def cub(*args, **kwargs):
    """The dataset, unserialised (serialising runs a slow gc.collect)."""
    return CUBClassificationDataset(*args, serialize_data=False, **kwargs)


# (class 1..200, is_training_image) for image ids 1..9
ROWS = [(1, 1), (1, 1), (1, 0), (1, 1), (2, 1), (2, 0), (2, 1), (200, 1),
        (200, 0)]


def test_official_files_give_0_based_labels_and_splits(tmp_path):
    root = write_cub(str(tmp_path), ROWS)
    train = data_infos(cub(root, 'train'))
    test = data_infos(cub(root, 'test'))
    assert [d['gt_label'] for d in train] == [0, 0, 0, 1, 1, 199]
    assert [d['gt_label'] for d in test] == [0, 1, 199]
    assert train[0]['img_path'] == osp.join(root, 'images',
                                            '001.Bird_1/Bird_1_1.jpg')
    assert {d['group'] for d in train + test} == {0}
    assert len(cub(root).CLASSES) == 200


def test_holdout_leaves_out_the_last_training_images_of_each_class(tmp_path):
    root = write_cub(str(tmp_path), ROWS)
    dataset = cub(root, 'train', holdout_per_class=1)
    kept = [osp.basename(d['img_path']) for d in data_infos(dataset)]
    assert kept == ['Bird_1_1.jpg', 'Bird_1_2.jpg', 'Bird_2_5.jpg']
    with pytest.raises(ValueError, match='no images selected.*'
                       'holdout_per_class=5'):
        cub(root, 'train', holdout_per_class=5)
    with pytest.raises(ValueError, match='train split'):
        cub(root, 'test', holdout_per_class=5)


def test_edits_join_the_training_split(tmp_path):
    root = write_cub(str(tmp_path / 'CUB_200_2011'), ROWS)
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [0, 199, 5])
    dataset = cub(root, 'train', holdout_per_class=1,
                                       edited_manifest=manifest)
    infos = data_infos(dataset)
    assert len(infos) == 3 + 3
    assert [d['gt_label'] for d in infos[3:]] == [0, 199, 5]
    assert all(d['prov_mask_path'] for d in infos[3:])


@pytest.mark.parametrize('name, line, message', [
    ('image_class_labels.txt', '3 201',
     r'image_class_labels.txt:3: class must be an integer in 1..200'),
    ('train_test_split.txt', '3 yes',
     r'train_test_split.txt:3: is_training_image must be an integer in 0..1'),
    ('images.txt', '3', r'images.txt:3: expected "<image id> <image path>"'),
    ('images.txt', 'x a.jpg', r'images.txt:3: image id must be an integer'),
    ('images.txt', '1 again.jpg', r'images.txt:3: image id 1 listed twice'),
])
def test_bad_lines_are_refused_naming_file_and_line(tmp_path, name, line,
                                                    message):
    root = write_cub(str(tmp_path), [(1, 1), (2, 0), (3, 1)])
    path = osp.join(root, name)
    lines = open(path).read().splitlines()
    lines[2] = line
    write_text(path, lines)
    with pytest.raises(ValueError, match=message):
        cub(root)


def test_image_without_label_line_is_named(tmp_path):
    root = write_cub(str(tmp_path), [(1, 1), (2, 0), (3, 1)])
    path = osp.join(root, 'image_class_labels.txt')
    write_text(path, open(path).read().splitlines()[:2])
    with pytest.raises(ValueError, match=r'image_class_labels.txt: no line '
                       r'for image id 3'):
        cub(root)


def test_missing_dataset_says_where_to_put_it(tmp_path):
    root = str(tmp_path / 'CUB_200_2011')
    with pytest.raises(FileNotFoundError) as error:
        cub(root)
    message = str(error.value)
    assert osp.join(root, 'images.txt') in message
    assert 'CUB_200_2011.tgz' in message and 'caltech.edu' in message
