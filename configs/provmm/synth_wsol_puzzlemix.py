# Baseline: CAM + PuzzleMix on the synthetic WSOL benchmark (64 px inputs:
# the authors' CIFAR neigh_size of 4 fits the 4-pixel blocks of n = 16).
_base_ = ['./synth_wsol_cutmix.py']

data_preprocessor = dict(
    augments=[dict(type='ProvenancePuzzleMix', alpha=1.0, n_labels=3,
                   beta=1.2, gamma=0.5, eta=0.2, neigh_size=4,
                   transport=True, t_eps=0.8)])
# The saliency is the classifier's input gradient on the un-mixed batch.
custom_hooks = _base_.custom_hooks + [dict(type='PuzzleMixSaliencyHook')]
