"""provmm registries: children of mmpretrain's, so every mmpretrain (and
mmengine) module stays buildable under ``default_scope='provmm'``. Each
imports its provmm package (``locations``) on first use."""
import importlib.util

# Before mmpretrain fails on it with a vaguer error.
if importlib.util.find_spec('mmcv') is None:
    raise ImportError(
        'provmm needs the `mmcv` package. Install mmcv-lite (no compiled ops, '
        "no build): pip install 'provmm[lite]' or pip install "
        "'mmcv-lite>=2.0.0,<2.4.0'. A full mmcv>=2.0,<2.4 works too.")

from mmengine.registry import Registry  # noqa: E402
from mmpretrain import registry as mmpretrain_registry  # noqa: E402
__all__ = [
    'RUNNERS',
    'RUNNER_CONSTRUCTORS',
    'LOOPS',
    'HOOKS',
    'LOG_PROCESSORS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS',
    'BATCH_AUGMENTS',
    'TASK_UTILS',
    'METRICS',
    'EVALUATORS',
    'VISUALIZERS',
    'VISBACKENDS',
]


def _child(name: str, parent: Registry, package: str,
           mmpretrain_package: str) -> Registry:
    """A child of an mmpretrain registry that imports, on first use, the
    provmm package registering into it and the mmpretrain one registering
    into its parent (a child looks up names in its parents' tables but does
    not run their lazy imports)."""
    return Registry(name, parent=parent,
                    locations=[f'provmm.{package}',
                               f'mmpretrain.{mmpretrain_package}'])


RUNNERS = _child(
    'runner', mmpretrain_registry.RUNNERS, 'engine', 'engine')
RUNNER_CONSTRUCTORS = _child(
    'runner constructor', mmpretrain_registry.RUNNER_CONSTRUCTORS, 'engine',
    'engine')
LOOPS = _child(
    'loop', mmpretrain_registry.LOOPS, 'engine', 'engine')
HOOKS = _child(
    'hook', mmpretrain_registry.HOOKS, 'engine', 'engine')
LOG_PROCESSORS = _child(
    'log processor', mmpretrain_registry.LOG_PROCESSORS, 'engine', 'engine')
OPTIMIZERS = _child(
    'optimizer', mmpretrain_registry.OPTIMIZERS, 'engine', 'engine')
OPTIM_WRAPPERS = _child(
    'optim_wrapper', mmpretrain_registry.OPTIM_WRAPPERS, 'engine', 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor',
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS, 'engine', 'engine')
PARAM_SCHEDULERS = _child(
    'parameter scheduler', mmpretrain_registry.PARAM_SCHEDULERS, 'engine',
    'engine')
DATASETS = _child(
    'dataset', mmpretrain_registry.DATASETS, 'datasets', 'datasets')
DATA_SAMPLERS = _child(
    'data sampler', mmpretrain_registry.DATA_SAMPLERS, 'datasets', 'datasets')
TRANSFORMS = _child(
    'transform', mmpretrain_registry.TRANSFORMS, 'datasets', 'datasets')
MODELS = _child(
    'model', mmpretrain_registry.MODELS, 'models', 'models')
MODEL_WRAPPERS = _child(
    'model_wrapper', mmpretrain_registry.MODEL_WRAPPERS, 'models', 'models')
WEIGHT_INITIALIZERS = _child(
    'weight initializer', mmpretrain_registry.WEIGHT_INITIALIZERS, 'models',
    'models')
BATCH_AUGMENTS = _child(
    'batch augment', mmpretrain_registry.BATCH_AUGMENTS, 'models', 'models')
TASK_UTILS = _child(
    'task util', mmpretrain_registry.TASK_UTILS, 'models', 'models')
METRICS = _child(
    'metric', mmpretrain_registry.METRICS, 'evaluation', 'evaluation')
EVALUATORS = _child(
    'evaluator', mmpretrain_registry.EVALUATORS, 'evaluation', 'evaluation')
VISUALIZERS = _child(
    'visualizer', mmpretrain_registry.VISUALIZERS, 'engine', 'visualization')
VISBACKENDS = _child(
    'vis_backend', mmpretrain_registry.VISBACKENDS, 'engine', 'visualization')
