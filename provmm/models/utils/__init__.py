from .cam import class_activation_map  # noqa: F401
from .synthetic_source_pretrained import SyntheticSourcePretrained  # noqa: F401
