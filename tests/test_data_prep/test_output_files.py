import os
import re

import pytest

from provmm.data_prep.output_files import (atomic_path, check_outputs,
                                           remove_temporaries,
                                           write_text_atomic)


def test_check_outputs_compares_real_paths(tmp_path, monkeypatch):
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data/list.txt').write_text('a.png 0\n')
    os.symlink(tmp_path / 'data', tmp_path / 'link')
    monkeypatch.chdir(tmp_path)
    inputs = [(str(tmp_path / 'data/list.txt'), '--train-list')]
    check_outputs([('data/other.csv', '--out')], inputs)
    for out in ('data/list.txt', 'link/list.txt', 'data/../data/list.txt'):
        with pytest.raises(ValueError, match=re.escape(
                f'output --out {out} would overwrite the input --train-list '
                f'{tmp_path}/data/list.txt; write the output elsewhere')):
            check_outputs([(out, '--out')], inputs)
    with pytest.raises(ValueError, match=re.escape(
            'output --report link/r.json and output --out data/r.json are '
            f'the same file {tmp_path}/data/r.json')):
        check_outputs([('data/r.json', '--out'),
                       ('link/r.json', '--report')], [])


def test_atomic_path_replaces_only_a_finished_file(tmp_path):
    target = tmp_path / 'sub' / 'table.csv'
    write_text_atomic(str(target), 'old\n')
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            assert tmp.endswith('.csv') and tmp != str(target)
            open(tmp, 'w').write('half')
            raise RuntimeError('killed')
    assert target.read_text() == 'old\n'
    assert os.listdir(tmp_path / 'sub') == ['table.csv']
    write_text_atomic(str(target), 'new\n')
    assert target.read_text() == 'new\n'
    assert os.listdir(tmp_path / 'sub') == ['table.csv']


def test_remove_temporaries_deletes_only_leftovers_of_atomic_path(tmp_path):
    names = ['.0-0.0123456789ab.tmp.png', '.manifest.abcdef012345.tmp.csv',
             '.keep.png', '0-0.png', '.x.0123456789ab.tmp.png.bak']
    for name in names:
        (tmp_path / name).write_bytes(b'')
    assert remove_temporaries(str(tmp_path)) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])
