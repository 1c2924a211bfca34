"""What the built-in benchmarks share: one folder and one cached JSON result
per run, the key that says whether a cached run is still valid, metric keys
without their prefix, and mean ± std table cells.

A run's key (:func:`run_key`) hashes

- its resolved config: the mmengine ``Config`` after every edit
  (:func:`..runner.build_config`), as a dict without :data:`UNHASHED_KEYS`,
  dumped as JSON with sorted keys (the order of the keys does not count);
- its code: every ``*.py`` file of the ``provmm`` package and the config
  files the run loads (its config and, recursively, its ``_base_`` files),
  each by content and path.

Not hashed: the generated data and pre-trained checkpoints the config points
to (their paths are), and installed libraries (their versions are stored
with each run by :mod:`.environment`).
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

import provmm

PACKAGE_DIR = osp.dirname(osp.abspath(provmm.__file__))
# Paths of the config that do not change a run's results.
UNHASHED_KEYS = ('work_dir', )


def run_dir(out_dir: str, variant: str, alpha: Optional[float],
            seed: int) -> str:
    """``<out_dir>/runs/<variant>/<alpha_A | no_alpha>/seed_<seed>``."""
    tag = f'alpha_{alpha:g}' if alpha is not None else 'no_alpha'
    return osp.join(out_dir, 'runs', variant, tag, f'seed_{seed}')


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonable(value):
    """Config values as JSON: tuples as lists, classes and functions (lazy
    imports) by their qualified name."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, '__qualname__'):
        return f'{value.__module__}.{value.__qualname__}'
    raise TypeError(f'config value {value!r} of type {type(value).__name__} '
                    'has no stable text form to hash')


def resolved_config(cfg: Config) -> Dict:
    """The config as a JSON-able dict, without :data:`UNHASHED_KEYS`."""
    config = _jsonable(cfg.to_dict())
    for key in UNHASHED_KEYS:
        *parents, last = key.split('.')
        node = config
        for parent in parents:
            node = node.get(parent, {})
        node.pop(last, None)
    return config


def config_sha256(config: Dict) -> str:
    """Hash of a :func:`resolved_config`, independent of its key order."""
    return _sha256(json.dumps(config, sort_keys=True).encode())


def config_files(config_file: str) -> List[str]:
    """``config_file`` and, recursively, every ``_base_`` file it loads."""
    files = [osp.normpath(osp.abspath(config_file))]
    # mmengine resolves _base_ entries with these two (private) helpers;
    # reusing them keeps the list the files Config.fromfile really reads.
    for base in Config._get_base_files(config_file):
        path, _ = Config._get_cfg_path(base, config_file)
        files += [f for f in config_files(path) if f not in files]
    return files


def source_digests(configs: Sequence[str] = (),
                   config_dir: Optional[str] = None,
                   package_dir: str = PACKAGE_DIR) -> Dict[str, str]:
    """``{name: sha256 of the content}`` of every ``*.py`` file under
    ``package_dir`` (named ``provmm/<path>``) and of the ``configs`` files
    (named ``configs/<path relative to config_dir>``, or by their absolute
    path outside it)."""
    files = {}
    package = osp.basename(package_dir)
    for root, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(names):
            if name.endswith('.py'):
                path = osp.join(root, name)
                files[osp.join(package, osp.relpath(path, package_dir))] = path
    for path in configs:
        name = osp.abspath(path)
        if config_dir is not None:
            rel = osp.relpath(name, osp.abspath(config_dir))
            if not rel.startswith(os.pardir):
                name = osp.join('configs', rel)
        files[name] = path
    digests = {}
    for name, path in sorted(files.items()):
        with open(path, 'rb') as f:
            digests[name] = _sha256(f.read())
    return digests


def run_key(cfg: Config, configs: Sequence[str] = (),
            config_dir: Optional[str] = None,
            package_dir: str = PACKAGE_DIR) -> Dict:
    """The key of one run and its parts, as stored in its ``result.json``:
    ``{'key', 'config_sha256', 'code_sha256', 'config' (the resolved
    config), 'code_files' ({name: sha256})}``; ``key`` hashes both hashes.
    """
    config = resolved_config(cfg)
    files = source_digests(configs, config_dir, package_dir)
    config_hash = config_sha256(config)
    code_hash = _sha256(json.dumps(files, sort_keys=True).encode())
    return dict(key=_sha256(f'{config_hash} {code_hash}'.encode())[:16],
                config_sha256=config_hash, code_sha256=code_hash,
                config=config, code_files=files)


def _flatten(value, prefix: str = '') -> Dict[str, object]:
    if isinstance(value, dict) and value:
        flat = {}
        for k, v in value.items():
            flat.update(_flatten(v, f'{prefix}.{k}' if prefix else k))
        return flat
    return {prefix: value}


def _listed(items: List[str], limit: int = 5) -> str:
    more = f', … ({len(items) - limit} more)' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def config_changes(old: Dict, new: Dict) -> List[str]:
    """``'key: old -> new'`` for every dotted key whose value differs."""
    old, new = _flatten(old), _flatten(new)
    return [f'{k}: {old.get(k, "(absent)")!r} -> {new.get(k, "(absent)")!r}'
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def code_changes(old: Dict[str, str], new: Dict[str, str]) -> List[str]:
    """The files that were changed, added (``+``) or removed (``-``)."""
    return ([n for n in sorted(set(old) & set(new)) if old[n] != new[n]] +
            [f'+{n}' for n in sorted(set(new) - set(old))] +
            [f'-{n}' for n in sorted(set(old) - set(new))])


def stale_reason(cached: Dict, key: Dict) -> Optional[str]:
    """Why a cached run's key differs from ``key`` (None: it does not):
    no key at all (cached before runs were keyed), the config (with its
    changed values), the code (with its changed files) and/or, for a
    retest, the run it tests."""
    old = cached.get('cache_key')
    if old is None:
        return ('no cache key (cached before runs were keyed by config and '
                'code)')
    if old.get('key') == key['key']:
        return None
    reasons = []
    if old.get('config_sha256') != key['config_sha256']:
        changes = config_changes(old.get('config', {}), key['config'])
        reasons.append('config changed' + (
            f' ({_listed(changes)})' if changes else ''))
    if old.get('code_sha256') != key['code_sha256']:
        changes = code_changes(old.get('code_files', {}), key['code_files'])
        reasons.append('code changed' + (
            f' ({_listed(changes)})' if changes else ''))
    if old.get('source_key') != key.get('source_key'):
        reasons.append('the run it retests changed')
    return '; '.join(reasons) or 'key changed'


def load_result(work_dir: str) -> Optional[Dict]:
    """The run's ``result.json``, None if there is none."""
    result_file = osp.join(work_dir, 'result.json')
    if not osp.isfile(result_file):
        return None
    with open(result_file) as f:
        return json.load(f)


def save_result(work_dir: str, result: dict) -> None:
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=2)


def strip_prefix(metrics: dict) -> dict:
    """``{'wsol/top1': 1.0}`` -> ``{'top1': 1.0}``."""
    return {k.split('/')[-1]: float(v) for k, v in metrics.items()}


def mean_std(values: Sequence[Optional[float]], scale: float = 1.0,
             digits: int = 1) -> str:
    """``'mean ± std'`` of the values that are not None, times ``scale``;
    ``'–'`` when there are none."""
    values = np.asarray([v for v in values if v is not None], float) * scale
    if len(values) == 0:
        return '–'
    return f'{values.mean():.{digits}f} ± {values.std():.{digits}f}'


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)
