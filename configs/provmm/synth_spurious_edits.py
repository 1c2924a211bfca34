# ALIA analogue: the real images plus imitated generative background edits of
# 5 % of them (new background place, mild global re-rendering), trained with
# cross-entropy only. The masks are loaded (plain Otsu, Eq. 6-7) but unused.
_base_ = ['./synth_spurious_erm.py']

train_dataloader = dict(
    dataset=dict(
        edits=dict(fraction=0.05, seed=0),
        mask_source='otsu',
        mask_options=dict()))
