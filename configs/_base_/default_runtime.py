# Runtime settings shared by every provmm config (mmpretrain's, with the
# provmm scope). `custom_imports` lets other OpenMMLab tools load provmm.
default_scope = 'provmm'
custom_imports = dict(imports=['provmm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

# provmm's engine hooks; a config that sets its own custom_hooks keeps them
# by listing them too.
custom_hooks = [
    # installs the checkpoint allow-list before any checkpoint is loaded
    dict(type='SafeCheckpointLoadingHook'),
    # stops at the first non-finite loss, before the optimizer step
    dict(type='NonFiniteLossHook', max_skipped_amp_steps=50),
    # saves the random states in checkpoints: --resume is bit-identical
    dict(type='RandomStateHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
