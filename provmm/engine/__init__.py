from .checkpoint_safety import register_checkpoint_safe_globals  # noqa: F401
