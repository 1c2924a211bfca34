"""Tiny fake copies of the real dataset formats and of an edit manifest."""
import os
import os.path as osp

import cv2
import numpy as np

IMAGE_HEIGHT, IMAGE_WIDTH = 12, 16


def write_image(path, value=0, height=IMAGE_HEIGHT, width=IMAGE_WIDTH):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.full((height, width, 3), value, np.uint8))
    return path


def write_text(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def edit_mask(index, height=IMAGE_HEIGHT, width=IMAGE_WIDTH):
    """Mask PNG of edit ``index``: 255 (target) left of column index + 2."""
    png = np.zeros((height, width), np.uint8)
    png[:, :index + 2] = 255
    return png


def write_edit_manifest(folder, labels, with_masks=True):
    """Edits ``edits/e<i>.png`` of ``real/r<i>.png`` with ``masks/m<i>.png``;
    returns the manifest path. Paths in it are relative to ``folder``."""
    header = 'original,edited,label' + (',mask' if with_masks else '')
    lines = [header]
    for i, label in enumerate(labels):
        write_image(osp.join(folder, 'real', f'r{i}.png'), 10 * i)
        write_image(osp.join(folder, 'edits', f'e{i}.png'), 10 * i + 5)
        row = f'real/r{i}.png,edits/e{i}.png,{label}'
        if with_masks:
            mask = osp.join(folder, 'masks', f'm{i}.png')
            os.makedirs(osp.dirname(mask), exist_ok=True)
            assert cv2.imwrite(mask, edit_mask(i))
            row += f',masks/m{i}.png'
        lines.append(row)
    return write_text(osp.join(folder, 'manifest.csv'), lines)


def write_waterbirds(root, rows, images=True):
    """``rows``: (species, y, split, place) per image."""
    lines = ['img_id,img_filename,y,split,place,place_filename']
    for i, (species, y, split, place) in enumerate(rows):
        name = f'{species}/img_{i}.png'
        lines.append(f'{i + 1},{name},{y},{split},{place},/x/{i}.jpg')
        if images:
            write_image(osp.join(root, name), i)
    write_text(osp.join(root, 'metadata.csv'), lines)
    return root


def write_iwildcam(root, rows, leading_index=False, name='metadata.csv'):
    """``rows``: (split, y, location_remapped) per image (WILDS columns)."""
    header = ('split,location_remapped,location,sequence_remapped,seq_id,y,'
              'category_id,datetime,filename,image_id')
    lines = [(',Unnamed: 0,' if leading_index else '') + header]
    for i, (split, y, location) in enumerate(rows):
        write_image(osp.join(root, 'train', f'{i:04d}.jpg'), i)
        row = (f'{split},{location},{location + 100},{i},s{i},{y},{y + 7},'
               f'2013-01-20 11:34:39.000,{i:04d}.jpg,{i:04d}')
        lines.append((f'{i},{i},' if leading_index else '') + row)
    return write_text(osp.join(root, name), lines)


def write_cub(root, rows):
    """``rows``: (class 1..200, is_training_image) per image, ids 1..N."""
    images, labels, split = [], [], []
    for i, (cls, is_train) in enumerate(rows, start=1):
        name = f'{cls:03d}.Bird_{cls}/Bird_{cls}_{i}.jpg'
        write_image(osp.join(root, 'images', name), i)
        images.append(f'{i} {name}')
        labels.append(f'{i} {cls}')
        split.append(f'{i} {is_train}')
    write_text(osp.join(root, 'images.txt'), images)
    write_text(osp.join(root, 'image_class_labels.txt'), labels)
    write_text(osp.join(root, 'train_test_split.txt'), split)
    return root


def data_infos(dataset):
    """Every sample's data info (``data_list`` is emptied once serialised)."""
    return [dataset.get_data_info(i) for i in range(len(dataset))]
