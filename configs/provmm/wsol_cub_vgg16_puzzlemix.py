# Baseline: VGG16 CAM + PuzzleMix on CUB WSOL (Table 1 "PuzzleMix").
# The authors' ImageNet defaults (beta, gamma, eta, n_labels, transport,
# t_eps; neigh_size 2 at 224 px); see docs/mixing/puzzlemix.md.
_base_ = ['./wsol_cub_vgg16_cutmix.py']

data_preprocessor = dict(
    augments=[dict(type='ProvenancePuzzleMix', alpha=1.0, n_labels=3,
                   beta=1.2, gamma=0.5, eta=0.2, neigh_size=2,
                   transport=True, t_eps=0.8)])
# The saliency is the classifier's input gradient on the un-mixed batch.
custom_hooks = _base_.custom_hooks + [dict(type='PuzzleMixSaliencyHook')]
