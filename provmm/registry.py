"""provmm registries: children of mmpretrain's, so every mmpretrain (and
mmengine) module stays buildable under ``default_scope='provmm'``."""
from mmpretrain import registry as mmpretrain_registry
from mmengine.registry import Registry
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


RUNNERS = Registry(
    'runner',
    parent=mmpretrain_registry.RUNNERS,
    locations=['provmm.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=mmpretrain_registry.RUNNER_CONSTRUCTORS,
    locations=['provmm.engine'])
LOOPS = Registry(
    'loop',
    parent=mmpretrain_registry.LOOPS,
    locations=['provmm.engine'])
HOOKS = Registry(
    'hook',
    parent=mmpretrain_registry.HOOKS,
    locations=['provmm.engine'])
LOG_PROCESSORS = Registry(
    'log processor',
    parent=mmpretrain_registry.LOG_PROCESSORS,
    locations=['provmm.engine'])
OPTIMIZERS = Registry(
    'optimizer',
    parent=mmpretrain_registry.OPTIMIZERS,
    locations=['provmm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=mmpretrain_registry.OPTIM_WRAPPERS,
    locations=['provmm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['provmm.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=mmpretrain_registry.PARAM_SCHEDULERS,
    locations=['provmm.engine'])
DATASETS = Registry(
    'dataset',
    parent=mmpretrain_registry.DATASETS,
    locations=['provmm.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=mmpretrain_registry.DATA_SAMPLERS,
    locations=['provmm.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=mmpretrain_registry.TRANSFORMS,
    locations=['provmm.datasets'])
MODELS = Registry(
    'model',
    parent=mmpretrain_registry.MODELS,
    locations=['provmm.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=mmpretrain_registry.MODEL_WRAPPERS,
    locations=['provmm.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=mmpretrain_registry.WEIGHT_INITIALIZERS,
    locations=['provmm.models'])
BATCH_AUGMENTS = Registry(
    'batch augment',
    parent=mmpretrain_registry.BATCH_AUGMENTS,
    locations=['provmm.models'])
TASK_UTILS = Registry(
    'task util',
    parent=mmpretrain_registry.TASK_UTILS,
    locations=['provmm.models'])
METRICS = Registry(
    'metric',
    parent=mmpretrain_registry.METRICS,
    locations=['provmm.evaluation'])
EVALUATORS = Registry(
    'evaluator',
    parent=mmpretrain_registry.EVALUATORS,
    locations=['provmm.evaluation'])
VISUALIZERS = Registry(
    'visualizer',
    parent=mmpretrain_registry.VISUALIZERS,
    locations=['provmm.engine'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=mmpretrain_registry.VISBACKENDS,
    locations=['provmm.engine'])
