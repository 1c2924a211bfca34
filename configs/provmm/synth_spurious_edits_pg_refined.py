# As synth_spurious_edits_pg.py with refined Otsu masks (Otsu on log(1 + D)),
# which match the true foreground far better than plain Eq. 6-7 here.
_base_ = ['./synth_spurious_edits_pg.py']

train_dataloader = dict(dataset=dict(mask_options=dict(log_scale=True)))
