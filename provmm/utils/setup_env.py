from mmengine import registry as mmengine_registry


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every provmm and mmpretrain module into the registries and,
    optionally, make ``provmm`` the default scope (mirrors
    ``mmpretrain.utils.register_all_modules``). Runners built from configs
    do not need it: the registries import their modules on first use."""
    import mmpretrain.utils
    mmpretrain.utils.register_all_modules(init_default_scope=False)
    import provmm.datasets  # noqa: F401
    import provmm.engine  # noqa: F401
    import provmm.evaluation  # noqa: F401
    import provmm.models  # noqa: F401
    if init_default_scope:
        mmengine_registry.init_default_scope('provmm')
