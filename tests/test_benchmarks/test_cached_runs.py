"""The key of a cached benchmark run: what changes it (a config value, a
source file, a config file) and what does not (key order, work_dir,
bytecode caches), and the reasons a cached run is stale."""
from mmengine.config import Config

from provmm.benchmarks.cached_runs import (config_files, run_key,
                                           source_digests, stale_reason)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _package(tmp_path):
    root = tmp_path / 'pkg'
    _write(root / '__init__.py', '')
    _write(root / 'sub' / 'b.py', 'B = 1\n')
    _write(root / 'sub' / '__pycache__' / 'b.py', 'not a source\n')
    _write(root / 'notes.txt', 'not a source\n')
    return str(root)


def _config(**train):
    return Config(dict(model=dict(type='Net', depth=18),
                       train_cfg=dict(max_epochs=2, **train),
                       work_dir='work_dirs/a'))


def test_the_key_ignores_key_order_and_work_dir(tmp_path):
    package = _package(tmp_path)
    reordered = Config(dict(work_dir='elsewhere',
                            train_cfg=dict(max_epochs=2),
                            model=dict(depth=18, type='Net')))
    key = run_key(_config(), package_dir=package)
    assert run_key(reordered, package_dir=package) == key
    assert 'work_dir' not in key['config']
    assert key['config']['model'] == dict(type='Net', depth=18)
    assert len(key['key']) == 16


def test_a_changed_config_value_changes_the_config_hash_only(tmp_path):
    package = _package(tmp_path)
    key = run_key(_config(), package_dir=package)
    changed = run_key(_config(val_interval=1), package_dir=package)
    assert changed['key'] != key['key']
    assert changed['config_sha256'] != key['config_sha256']
    assert changed['code_sha256'] == key['code_sha256']
    assert stale_reason(dict(cache_key=key), changed) == (
        "config changed (train_cfg.val_interval: '(absent)' -> 1)")
    assert stale_reason(dict(cache_key=key), key) is None


def test_a_changed_source_file_changes_the_code_hash_only(tmp_path):
    package = _package(tmp_path)
    key = run_key(_config(), package_dir=package)
    assert sorted(key['code_files']) == ['pkg/__init__.py', 'pkg/sub/b.py']
    # bytecode caches and other files are not sources
    _write(tmp_path / 'pkg' / 'sub' / '__pycache__' / 'b.py', 'changed\n')
    _write(tmp_path / 'pkg' / 'notes.txt', 'changed\n')
    assert run_key(_config(), package_dir=package) == key
    _write(tmp_path / 'pkg' / 'sub' / 'b.py', 'B = 2\n')
    edited = run_key(_config(), package_dir=package)
    assert edited['key'] != key['key']
    assert edited['config_sha256'] == key['config_sha256']
    assert stale_reason(dict(cache_key=key), edited) == (
        'code changed (pkg/sub/b.py)')
    _write(tmp_path / 'pkg' / 'c.py', '')
    added = run_key(_config(), package_dir=package)
    assert stale_reason(dict(cache_key=edited), added) == (
        'code changed (+pkg/c.py)')
    both = run_key(_config(val_interval=1), package_dir=package)
    assert stale_reason(dict(cache_key=key), both) == (
        "config changed (train_cfg.val_interval: '(absent)' -> 1); "
        'code changed (pkg/sub/b.py, +pkg/c.py)')


def test_config_files_are_hashed_with_their_bases(tmp_path):
    configs = tmp_path / 'configs'
    _write(configs / '_base_' / 'model.py', 'model = dict(depth=18)\n')
    _write(configs / 'mid.py', "_base_ = ['./_base_/model.py']\n")
    top = _write(configs / 'exp' / 'top.py',
                 "_base_ = '../mid.py'\nmodel = dict(depth=34)\n")
    files = config_files(top)
    assert files == [top, str(configs / 'mid.py'),
                     str(configs / '_base_' / 'model.py')]
    package = _package(tmp_path)
    cfg = Config.fromfile(top)
    key = run_key(cfg, files, str(configs), package)
    assert [n for n in key['code_files'] if n.startswith('configs')] == [
        'configs/_base_/model.py', 'configs/exp/top.py', 'configs/mid.py']
    # a comment changes no value but the config file's hash
    _write(configs / '_base_' / 'model.py',
           '# ResNet-18\nmodel = dict(depth=18)\n')
    edited = run_key(Config.fromfile(top), files, str(configs), package)
    assert edited['config_sha256'] == key['config_sha256']
    assert stale_reason(dict(cache_key=key), edited) == (
        'code changed (configs/_base_/model.py)')


def test_every_provmm_source_file_is_hashed():
    digests = source_digests()
    assert {'provmm/__init__.py', 'provmm/benchmarks/cached_runs.py',
            'provmm/provenance/gradient_loss.py'} <= set(digests)
    assert all(name.startswith('provmm/') and name.endswith('.py') and
               '__pycache__' not in name for name in digests)


def test_a_result_without_key_is_stale(tmp_path):
    key = run_key(_config(), package_dir=_package(tmp_path))
    old = dict(variant='v', seed=0, alpha=None, epochs=2, test={})
    assert stale_reason(old, key) == (
        'no cache key (cached before runs were keyed by config and code)')
