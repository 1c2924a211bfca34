# As synth_spurious_edits_pg.py with the generator's true foreground as the
# mask: the upper bound of what better masks can give.
_base_ = ['./synth_spurious_edits_pg.py']

train_dataloader = dict(dataset=dict(mask_source='gt', mask_options=None))
