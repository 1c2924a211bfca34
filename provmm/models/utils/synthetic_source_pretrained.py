"""Backbone weights pre-trained on the synthetic source task (the synthetic
WSOL benchmark's stand-in for ImageNet weights). They are made beforehand,
as a step of its own: ``python tools/train.py
configs/provmm/synth_wsol_pretrain.py``."""
import os.path as osp

from mmengine.model.weight_init import PretrainedInit

from provmm.registry import WEIGHT_INITIALIZERS

PRETRAIN_CONFIG = 'configs/provmm/synth_wsol_pretrain.py'


@WEIGHT_INITIALIZERS.register_module()
class SyntheticSourcePretrained(PretrainedInit):
    """``Pretrained`` init whose missing checkpoint is an error that says
    which command makes it (nothing is trained here).

    Args:
        checkpoint (str): checkpoint of the pre-trained model.
        prefix (str): key prefix to load, e.g. ``'backbone.'``.
        map_location (str): as ``PretrainedInit``.
        pretrain_config (str): the config that makes ``checkpoint`` (named
            in the error).
    """

    def __init__(self, checkpoint: str, prefix: str = 'backbone.',
                 map_location: str = 'cpu',
                 pretrain_config: str = PRETRAIN_CONFIG):
        super().__init__(checkpoint, prefix=prefix,
                         map_location=map_location)
        self.pretrain_config = pretrain_config

    def __call__(self, module):
        if not osp.isfile(self.checkpoint):
            raise FileNotFoundError(
                f'checkpoint {self.checkpoint} not found; it is made by '
                f'`python tools/train.py {self.pretrain_config}`')
        super().__call__(module)

    def _get_init_info(self):
        return (f'{self.__class__.__name__}: load from {self.checkpoint} '
                f'(made by {self.pretrain_config})')
