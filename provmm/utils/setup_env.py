import warnings

from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register all provmm modules and, optionally, make ``provmm`` the
    default scope (mirrors ``mmpretrain.utils.register_all_modules``)."""
    import mmpretrain.utils
    mmpretrain.utils.register_all_modules(init_default_scope=False)
    import provmm.datasets  # noqa: F401
    import provmm.engine  # noqa: F401
    import provmm.evaluation  # noqa: F401
    import provmm.models  # noqa: F401

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('provmm', scope_name='provmm')
    elif current_scope.scope_name != 'provmm':
        warnings.warn(
            f'The current default scope "{current_scope.scope_name}" is not '
            '"provmm"; `register_all_modules` switches it to "provmm". Pass '
            '`init_default_scope=False` if this is not expected.')
        DefaultScope._instance_dict.pop(current_scope.instance_name, None)
        DefaultScope.get_instance(
            f'provmm-{len(DefaultScope._instance_dict)}', scope_name='provmm')
