"""Install provmm's checkpoint allow-list from a config."""
from mmengine.hooks import Hook

from provmm.engine.checkpoint_safety import register_checkpoint_safe_globals
from provmm.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointLoadingHook(Hook):
    """Let mmengine checkpoints load under ``torch.load(weights_only=True)``.

    Calls :func:`~provmm.engine.register_checkpoint_safe_globals` in
    ``before_run``, which mmengine's ``Runner.train``, ``val`` and ``test``
    call before ``load_or_resume`` (and ``train`` before the weight
    initialisation of ``Pretrained`` init_cfgs), so ``load_from``, ``resume``
    and pre-trained weights all load with the allow-list. Other OpenMMLab
    projects get it with
    ``custom_hooks=[dict(type='provmm.SafeCheckpointLoadingHook')]``.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        # mmengine checkpoints hold non-tensor globals: allow exactly those
        register_checkpoint_safe_globals()
