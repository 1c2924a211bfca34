import os.path as osp

import pytest

from provmm.data_prep.alia_import import import_alia_edits, load_training_list
from provmm.data_prep.provenance_manifest import (ProvenancePair,
                                                 dump_provenance_manifest,
                                                 load_provenance_manifest)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'')
    return str(path)


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_manifest_round_trip_keeps_rows_and_writes_relative_paths(tmp_path):
    pairs = [
        ProvenancePair(_touch(tmp_path / 'real/a.jpg'),
                       _touch(tmp_path / 'edits/a-0.png'), 3,
                       gt_mask=_touch(tmp_path / 'gt/a.png'),
                       mask=_touch(tmp_path / 'out/masks/a-0.png'),
                       extra=dict(place='water')),
        ProvenancePair(_touch(tmp_path / 'real/b c.jpg'),
                       _touch(tmp_path / 'edits/b,0.png'), 0,
                       mask=_touch(tmp_path / 'out/masks/b-0.png'),
                       extra=dict(place='land')),
    ]
    manifest = str(tmp_path / 'out' / 'manifest.csv')
    dump_provenance_manifest(pairs, manifest)

    text = open(manifest).read()
    assert text.splitlines()[0] == 'original,edited,label,gt_mask,place,mask'
    assert str(tmp_path) not in text
    assert '../real/a.jpg' in text
    loaded = load_provenance_manifest(manifest)
    for pair, line_no in zip(pairs, (2, 3)):
        pair.line_no = line_no
    assert loaded == pairs


def test_manifest_paths_are_relative_to_its_folder(tmp_path):
    _touch(tmp_path / 'data/x.jpg')
    _touch(tmp_path / 'data/y.jpg')
    manifest = _write(tmp_path / 'data/m.csv',
                      'original,edited,label\nx.jpg,y.jpg,1\n')
    (pair,) = load_provenance_manifest(manifest)
    assert pair.original == str(tmp_path / 'data/x.jpg')
    assert pair.edited == str(tmp_path / 'data/y.jpg')
    assert (pair.label, pair.gt_mask, pair.mask) == (1, None, None)


@pytest.mark.parametrize('text, error, message', [
    ('original,label\nx.jpg,1\n', ValueError,
     r'm\.csv:1: header lacks column\(s\) \[.edited.\]'),
    ('original,edited,label\nx.jpg,y.jpg,1\nx.jpg,y.jpg,cat\n', ValueError,
     r'm\.csv:3: label must be an integer'),
    ('original,edited,label\nx.jpg,y.jpg\n', ValueError,
     r'm\.csv:2: expected 3 fields'),
    ('original,edited,label\nx.jpg,,1\n', ValueError,
     r"m\.csv:2: empty value in column 'edited'"),
    ('original,edited,label\nx.jpg,z.jpg,1\n', FileNotFoundError,
     r'm\.csv:2: edited file not found: .*z\.jpg'),
    ('original,edited,label,gt_mask\nx.jpg,y.jpg,1,g.png\n',
     FileNotFoundError, r'm\.csv:2: gt_mask file not found'),
    ('original,edited,label\nx.jpg,y.jpg,1\n\nx.jpg,y.jpg,2\n', ValueError,
     r'm\.csv:4: edited image .*y\.jpg is already listed on line 2'),
])
def test_bad_manifests_name_file_and_line(tmp_path, text, error, message):
    _touch(tmp_path / 'x.jpg')
    _touch(tmp_path / 'y.jpg')
    with pytest.raises(error, match=message):
        load_provenance_manifest(_write(tmp_path / 'm.csv', text))


def _fake_alia(tmp_path):
    """4 training images (labels 0 1 0 1) and ALIA edits of 3 of them."""
    for i in range(4):
        _touch(tmp_path / f'train/img{i}.jpg')
    train_list = _write(tmp_path / 'train/train.txt',
                        'path,label\nimg0.jpg,0\nimg1.jpg,1\n'
                        'img2.jpg , 0\nimg3.jpg,1\n')
    run = tmp_path / 'alia/img2img/Waterbirds/a_photo_of_{}_in_snow'
    run = run / 'strength-0.5_guidance-7.5'
    for name in ('landbird/0-0.png', 'landbird/0-1.png', 'landbird/2-0.png',
                 'waterbird/3-0.png', 'landbird/samples/0.png',
                 'landbird/.DS_Store'):
        _touch(run / name)
    other = tmp_path / 'alia/instruct/Waterbirds/put_it_in_a_forest/'
    _touch(other / 'strength-1.2_guidance-5/waterbird/1-0.png')
    return train_list, tmp_path / 'alia'


def test_training_list_accepts_commas_spaces_and_a_header(tmp_path):
    train_list, _ = _fake_alia(tmp_path)
    images = load_training_list(train_list)
    assert images == [(str(tmp_path / f'train/img{i}.jpg'), i % 2)
                      for i in range(4)]
    spaced = _write(tmp_path / 'ann.txt', 'a b.jpg 3\n')
    assert load_training_list(spaced, train_root='/data') == [
        ('/data/a b.jpg', 3)]
    with pytest.raises(ValueError, match=r'bad\.txt:2: label must be'):
        load_training_list(_write(tmp_path / 'bad.txt', 'a,1\nb,x\n'))


def test_alia_import_pairs_each_edit_with_its_training_image(tmp_path):
    train_list, alia_root = _fake_alia(tmp_path)
    pairs = import_alia_edits(str(alia_root), load_training_list(train_list))
    found = {osp.relpath(p.edited, alia_root): (osp.basename(p.original),
                                                p.label) for p in pairs}
    run = 'img2img/Waterbirds/a_photo_of_{}_in_snow/strength-0.5_guidance-7.5'
    assert found == {
        f'{run}/landbird/0-0.png': ('img0.jpg', 0),
        f'{run}/landbird/0-1.png': ('img0.jpg', 0),
        f'{run}/landbird/2-0.png': ('img2.jpg', 0),
        f'{run}/waterbird/3-0.png': ('img3.jpg', 1),
        'instruct/Waterbirds/put_it_in_a_forest/strength-1.2_guidance-5/'
        'waterbird/1-0.png': ('img1.jpg', 1),
    }
    (edit_of_3,) = [p for p in pairs if p.edited.endswith('3-0.png')]
    assert edit_of_3.extra == dict(method='img2img', dataset='Waterbirds',
                               prompt='a_photo_of_{}_in_snow',
                               strength_guidance='strength-0.5_guidance-7.5',
                               class_name='waterbird', train_index='3')


def test_alia_import_filters_by_folder_and_edit_number(tmp_path):
    train_list, alia_root = _fake_alia(tmp_path)
    pairs = import_alia_edits(str(alia_root), load_training_list(train_list),
                              method='img2img', edits_per_image=1)
    assert sorted(osp.basename(p.edited) for p in pairs) == [
        '0-0.png', '2-0.png', '3-0.png']
    with pytest.raises(ValueError, match='no ALIA edits found'):
        import_alia_edits(str(alia_root), load_training_list(train_list),
                          dataset='CUB')


def test_alia_import_refuses_inconsistent_layouts(tmp_path):
    train_list, alia_root = _fake_alia(tmp_path)
    training = load_training_list(train_list)
    run = next(alia_root.glob('img2img/*/*/*'))
    _touch(run / 'landbird/1-0.png')  # image 1 has label 1, folder has 0
    with pytest.raises(ValueError, match='different training labels'):
        import_alia_edits(str(alia_root), training)
    (run / 'landbird/1-0.png').unlink()
    _touch(run / 'landbird/9-0.png')
    with pytest.raises(ValueError, match='training index 9 is out of range'):
        import_alia_edits(str(alia_root), training)
    (run / 'landbird/9-0.png').unlink()
    _touch(run / 'landbird/edit.png')
    with pytest.raises(ValueError, match=r'edit\.png: expected a file name'):
        import_alia_edits(str(alia_root), training)
