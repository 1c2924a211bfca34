import math
import os
import os.path as osp

import pytest
from fake_classification_data import (data_infos, write_text,
                                      write_waterbirds)

from provmm.datasets import WaterbirdsDataset


def waterbirds(*args, **kwargs):
    """The dataset, unserialised (serialising runs a slow gc.collect)."""
    return WaterbirdsDataset(*args, serialize_data=False, **kwargs)


def write_empty_images(root, rows):
    """``write_waterbirds`` with empty image files: fast, and existence is
    what the dataset checks when it is built."""
    write_waterbirds(root, rows, images=False)
    for i, (species, *_) in enumerate(rows):
        os.makedirs(osp.join(root, species), exist_ok=True)
        open(osp.join(root, species, f'img_{i}.png'), 'w').close()
    return root


def test_splits_labels_and_groups_follow_metadata_csv(tmp_path):
    rows = [('001.A', 0, 0, 0), ('001.A', 0, 0, 1), ('002.B', 1, 0, 0),
            ('002.B', 1, 0, 1), ('001.A', 0, 1, 1), ('002.B', 1, 2, 0)]
    root = write_waterbirds(str(tmp_path), rows)
    dataset = waterbirds(root, 'train')
    train = data_infos(dataset)
    assert [d['gt_label'] for d in train] == [0, 0, 1, 1]
    assert [d['group'] for d in train] == [0, 1, 2, 3]  # 2 * y + place
    assert train[0]['img_path'] == osp.join(root, '001.A/img_0.png')
    for split, groups in (('val', [1]), ('test', [2])):
        infos = data_infos(waterbirds(root, split))
        assert [d['group'] for d in infos] == groups
    assert dataset.CLASSES == ('landbird', 'waterbird')


def test_alia_split_sizes_follow_from_the_released_group_counts(tmp_path):
    # group sizes of the released train / val splits: (y, place) -> count
    counts = {0: {(0, 0): 3498, (0, 1): 184, (1, 0): 56, (1, 1): 1057},
              1: {(0, 0): 467, (0, 1): 466, (1, 0): 133, (1, 1): 133}}
    rows = [(f'{(i % 7):03d}.S', y, split, place)
            for split, sizes in counts.items()
            for (y, place), n in sizes.items() for i in range(n)]
    root = write_empty_images(str(tmp_path), rows)
    train = waterbirds(root, 'train', groups=(0, 3), keep_every=4)
    val = waterbirds(root, 'val', groups=(0, 3))
    minority = [waterbirds(root, s, groups=(1, 2)) for s in
                ('train', 'val')]
    assert len(train) == math.ceil((3498 + 1057) / 4) == 1139
    assert len(val) == 467 + 133
    assert sum(len(d) for d in minority) == 839  # Table 8's Waterbirds edits


def test_keep_every_is_seeded_and_keeps_file_order(tmp_path):
    rows = [(f'{i % 3:03d}.S', 0, 0, 0) for i in range(40)]
    root = write_empty_images(str(tmp_path), rows)

    def kept(seed):
        dataset = waterbirds(root, keep_every=4, subset_seed=seed)
        return [d['img_path'] for d in data_infos(dataset)]

    assert len(kept(0)) == 10 and kept(0) == kept(0)
    assert kept(0) != kept(1)
    order = [int(p.rsplit('_', 1)[1][:-4]) for p in kept(0)]
    assert order == sorted(order)


@pytest.mark.parametrize('row, message', [
    ('1,a/x.png,2,0,0,p', r"metadata.csv:3: column 'y' must be one of"),
    ('1,a/x.png,0,5,0,p', r"metadata.csv:3: column 'split'"),
    ('1,a/x.png,0,0,land,p', r"metadata.csv:3: column 'place'"),
    ('1,a/x.png,0,0', r'metadata.csv:3: expected 6 fields'),
    ('1,,0,0,0,p', r'metadata.csv:3: empty img_filename'),
    ('1,../x.png,0,0,0,p', r"metadata.csv:3: img_filename '../x.png' must "
     'be a non-empty relative path inside its root folder'),
    ('1,/data/x.png,0,0,0,p', r"metadata.csv:3: img_filename '/data/x.png' "
     'must be a non-empty relative path'),
])
def test_bad_rows_are_refused_naming_line_and_column(tmp_path, row, message):
    write_text(str(tmp_path / 'metadata.csv'), [
        'img_id,img_filename,y,split,place,place_filename',
        '0,a/ok.png,1,0,1,p', row])
    with pytest.raises(ValueError, match=message):
        waterbirds(str(tmp_path))


def test_missing_column_is_named(tmp_path):
    write_text(str(tmp_path / 'metadata.csv'),
               ['img_filename,y,split', 'a/x.png,0,0'])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['place'\]"):
        waterbirds(str(tmp_path))


def test_missing_dataset_says_where_to_put_it(tmp_path):
    root = str(tmp_path / 'waterbird_complete95_forest2water2')
    with pytest.raises(FileNotFoundError) as error:
        waterbirds(root)
    message = str(error.value)
    assert osp.join(root, 'metadata.csv') in message
    assert 'waterbird_complete95_forest2water2.tar.gz' in message


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match='split'):
        waterbirds(str(tmp_path), 'extra')
    with pytest.raises(ValueError, match='groups'):
        waterbirds(str(tmp_path), groups=(4, ))
    with pytest.raises(ValueError, match='keep_every'):
        waterbirds(str(tmp_path), keep_every=0)


@pytest.mark.parametrize('repeat, kind', [
    ('7,a/ok.png,1,0,1,p', 'same y, split and place'),
    ('0,a/ok.png,0,0,1,p', 'different y, split or place'),
])
def test_a_repeated_image_names_both_lines(tmp_path, repeat, kind):
    # three images must not become five: nothing is dropped or doubled
    write_text(str(tmp_path / 'metadata.csv'), [
        'img_id,img_filename,y,split,place,place_filename',
        '0,a/ok.png,1,0,1,p', '1,b/ok.png,0,0,0,p', repeat,
        '3,c/ok.png,0,0,0,p'])
    with pytest.raises(ValueError, match=(
            rf"metadata.csv:4: img_filename 'a/ok.png' already listed at "
            rf'.*metadata.csv:2 \({kind}\); expected each image once')):
        waterbirds(str(tmp_path))


def test_missing_images_stop_the_build_with_where_they_go(tmp_path):
    rows = [('001.A', 0, 0, 0)] * 5 + [('002.B', 1, 1, 1)]
    root = write_waterbirds(str(tmp_path), rows)
    for i in range(4):
        os.remove(osp.join(root, '001.A', f'img_{i}.png'))
    assert len(waterbirds(root, 'val')) == 1  # other splits still build
    with pytest.raises(FileNotFoundError) as error:
        waterbirds(root, 'train')
    message = str(error.value)
    assert message.startswith(
        'WaterbirdsDataset: 4 of 5 images listed in '
        f'{osp.join(root, "metadata.csv")} are missing, first: ' + ', '.join(
            osp.join(root, '001.A', f'img_{i}.png') for i in range(3)) + ';')
    assert 'waterbird_complete95_forest2water2.tar.gz' in message
    assert f'data_root={root!r}' in message
