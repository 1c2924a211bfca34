# Baseline: SKP on UCF101-24 skeletons (weakly supervised STAL, Table 2),
# fine-tuned from Kinetics-400 pre-trained SKP weights.
_base_ = [
    '../_base_/models/skp.py',
    '../_base_/datasets/ucf101_24_skeleton.py',
    '../_base_/schedules/stal_sgd_linear.py',
    '../_base_/default_runtime.py',
]

# The paper starts from SKP pre-trained on Kinetics-400 skeletons. No such
# checkpoint is public: train one (or obtain it) and fill in its path, e.g.
# load_from = 'checkpoints/skp_kinetics400.pth'
# or, for the backbone only,
# model = dict(backbone=dict(init_cfg=dict(
#     type='Pretrained', checkpoint='checkpoints/skp_kinetics400.pth',
#     prefix='backbone.')))
# Left empty, training starts from scratch (not the paper's setting).
load_from = None

default_hooks = dict(logger=dict(interval=20))
