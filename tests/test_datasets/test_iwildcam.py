import os
import os.path as osp

import pytest
from fake_classification_data import (data_infos, write_edit_manifest,
                                      write_iwildcam, write_text)

from provmm.datasets import IWildCamDataset
from provmm.datasets.iwildcam import ALIA_CLASSES, ALIA_LABEL_VALUES


def iwildcam(*args, **kwargs):
    """The dataset, unserialised (serialising runs a slow gc.collect)."""
    return IWildCamDataset(*args, serialize_data=False, **kwargs)

ROWS = [('train', 3, 11), ('val', 5, 12), ('train', 0, 13), ('id_test', 3, 11),
        ('test', 181, 14)]


def test_wilds_metadata_split_labels_groups_and_image_folder(tmp_path):
    root = str(tmp_path)
    write_iwildcam(root, ROWS)
    train = data_infos(iwildcam(root, 'train'))
    assert [d['gt_label'] for d in train] == [3, 0]
    assert [d['group'] for d in train] == [11, 13]  # location_remapped
    assert train[0]['img_path'] == osp.join(root, 'train', '0000.jpg')
    for split, labels in (('val', [5]), ('test', [181]), ('id_test', [3]),
                          (None, [3, 5, 0, 3, 181])):
        infos = data_infos(iwildcam(root, split))
        assert [d['gt_label'] for d in infos] == labels


def test_alia_subset_file_is_read_whole_and_relabelled(tmp_path):
    root = str(tmp_path)
    rows = [('train', 24, 1), ('test', 52, 78), ('train', 0, 1)]
    write_iwildcam(root, rows, leading_index=True)  # pandas index columns
    dataset = iwildcam(root, split=None,
                              label_values=ALIA_LABEL_VALUES,
                              classes=ALIA_CLASSES)
    infos = data_infos(dataset)
    assert [d['gt_label'] for d in infos] == [1, 6, 0]
    assert [d['group'] for d in infos] == [1, 78, 1]
    assert dataset.CLASSES[1] == 'cattle'
    default = iwildcam(root, None, label_values=ALIA_LABEL_VALUES)
    assert default.CLASSES == tuple(str(v) for v in ALIA_LABEL_VALUES)


def test_split_without_rows_is_an_error(tmp_path):
    write_iwildcam(str(tmp_path), ROWS)
    with pytest.raises(ValueError, match="no images selected in split "
                       "'id_val'"):
        iwildcam(str(tmp_path), 'id_val')


def test_label_outside_label_values_names_the_line(tmp_path):
    write_iwildcam(str(tmp_path), [('train', 24, 1), ('train', 25, 1)])
    with pytest.raises(ValueError, match=r'metadata.csv:3: y=25 is not one'):
        iwildcam(str(tmp_path), label_values=ALIA_LABEL_VALUES)


@pytest.mark.parametrize('row, message', [
    ('train,1,zero,x.jpg', r"metadata.csv:3: column 'y' must be an "
     'integer'),
    ('holdout,1,3,x.jpg', r"metadata.csv:3: column 'split' must be one of"),
    ('train,near,3,x.jpg', r"metadata.csv:3: column 'location_remapped'"),
    ('train,1,3', r'metadata.csv:3: expected 4 fields'),
    ('train,1,3,../../x.jpg', r"metadata.csv:3: filename '../../x.jpg' must "
     'be a non-empty relative path inside its root folder'),
])
def test_bad_rows_are_refused_naming_line_and_column(tmp_path, row, message):
    write_text(str(tmp_path / 'metadata.csv'), [
        'split,location_remapped,y,filename', 'train,1,3,ok.jpg', row])
    with pytest.raises(ValueError, match=message):
        iwildcam(str(tmp_path))


def test_missing_column_is_named(tmp_path):
    write_text(str(tmp_path / 'metadata.csv'),
               ['split,y,filename', 'train,3,a.jpg'])
    with pytest.raises(ValueError, match="lacks column.*location_remapped"):
        iwildcam(str(tmp_path))


def test_missing_dataset_says_where_to_put_it(tmp_path):
    root = str(tmp_path / 'iwildcam_v2.0')
    with pytest.raises(FileNotFoundError) as error:
        iwildcam(root, ann_file='train_subset.csv')
    message = str(error.value)
    assert osp.join(root, 'train_subset.csv') in message
    assert 'wilds' in message and 'lisadunlap/ALIA' in message


def test_edits_join_the_training_rows(tmp_path):
    root = str(tmp_path / 'iwildcam_v2.0')
    write_iwildcam(root, ROWS)
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [3, 7, 181])
    dataset = iwildcam(root, 'train', edited_manifest=manifest,
                              num_edited=2)
    infos = data_infos(dataset)
    assert [(d['gt_label'], d['is_edited']) for d in infos] == [
        (3, False), (0, False), (3, True), (7, True)]
    with pytest.raises(ValueError, match='training data'):
        iwildcam(root, 'test', edited_manifest=manifest)


def test_missing_images_stop_the_build_with_where_they_go(tmp_path):
    root = str(tmp_path / 'iwildcam_v2.0')
    write_iwildcam(root, ROWS)
    os.remove(osp.join(root, 'train', '0002.jpg'))
    assert len(iwildcam(root, 'val')) == 1  # other splits still build
    with pytest.raises(FileNotFoundError) as error:
        iwildcam(root, 'train')
    message = str(error.value)
    assert message.startswith(
        f'IWildCamDataset: 1 of 2 images listed in '
        f'{osp.join(root, "metadata.csv")} are missing, first: '
        f'{osp.join(root, "train", "0002.jpg")};')
    assert 'wilds' in message
    assert f'Images go to {osp.join(root, "train")}.' in message
