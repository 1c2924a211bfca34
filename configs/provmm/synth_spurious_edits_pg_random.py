# Control (paper Table 6): a random per-pixel mask with the same per-sample
# mean as the provenance mask, in place of the provenance mask.
_base_ = ['./synth_spurious_edits_pg.py']

model = dict(provenance_loss=dict(mask_mode='random'))
