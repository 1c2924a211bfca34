from .conv_pool_cls_head import ConvPoolClsHead  # noqa: F401
