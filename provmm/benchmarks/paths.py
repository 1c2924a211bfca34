"""Where the drivers find the repository's configs and docs: in the source
checkout next to the ``provmm`` package, not relative to the working
directory."""
import os.path as osp
from typing import Optional

import provmm

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(provmm.__file__)))


def repo_dir(name: str, override: Optional[str] = None,
             flag: str = '--config-dir') -> str:
    """``override`` if given, else ``<repository>/<name>``; an error that
    names ``flag`` when the folder does not exist."""
    path = override or osp.join(REPO_ROOT, name)
    if not osp.isdir(path):
        where = ('given' if override else
                 'expected in the source checkout next to the provmm package;'
                 ' provmm seems installed without its repository')
        raise FileNotFoundError(f'{name} folder {path!r} not found ({where}):'
                                f' pass {flag} DIR')
    return path


def config_dir(override: Optional[str] = None) -> str:
    """The repository's ``configs`` folder (or ``override``)."""
    return repo_dir('configs', override, '--config-dir')


def docs_dir(override: Optional[str] = None) -> str:
    """The repository's ``docs/benchmarks`` folder (or ``override``)."""
    return repo_dir(osp.join('docs', 'benchmarks'), override, '--report')
