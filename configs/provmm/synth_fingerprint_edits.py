# + one generated edit of every train image (the object kept, a new
# background with the class fingerprint at `strength`), trained with
# cross-entropy only. The provenance masks (the edit's own, exact) are loaded
# but unused.
_base_ = ['./synth_fingerprint_erm.py']

train_dataloader = dict(
    dataset=dict(
        edits=dict(fraction=1.0, strength=1.0, seed=0),
        mask_source='gt',
        mask_options=None))
