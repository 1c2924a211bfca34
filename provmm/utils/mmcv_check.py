"""Fail early, with the fix, when neither mmcv nor mmcv-lite is installed."""
import importlib.util


def check_mmcv_installed() -> None:
    if importlib.util.find_spec('mmcv') is None:
        raise ImportError(
            'provmm needs the `mmcv` package. Install mmcv-lite (no compiled '
            "ops, no build): pip install 'provmm[lite]' or "
            "pip install 'mmcv-lite>=2.0.0,<2.4.0'. A full mmcv>=2.0,<2.4 "
            'works too.')
