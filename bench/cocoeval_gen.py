#!/usr/bin/env python3
"""A COCO-val-sized detection case for bench/cocoeval.sh, deterministic.

Writes OUT/gt.json (5,000 images, 80 categories, about 36,000 annotations
with COCO's size spread: about 41% small, 34% medium, 25% large; about 1%
crowd; `area` a little below w*h as for polygon masks) and OUT/dt.json
(100 detections per image: 1 to 3 jittered copies of each object, some with
the wrong class, then false positives of random size, place and class;
scores rounded to 3 decimals, so that ties occur as in real results).

Usage: cocoeval_gen.py OUT_DIR [--images N] [--dets D] [--seed S] [--score-decimals K]
"""
import argparse
import json
import math
import os
import random


def box_of_area(rng, area, w_img, h_img):
    """A box of about `area` px^2 with a COCO-like aspect ratio, inside the image."""
    aspect = math.exp(rng.gauss(0.0, 0.6))  # w / h
    w = min(math.sqrt(area * aspect), w_img - 1)
    h = min(area / max(w, 1.0), h_img - 1)
    x = rng.uniform(0, w_img - w)
    y = rng.uniform(0, h_img - h)
    return [x, y, w, h]


def jitter(rng, b, w_img, h_img, amount):
    x, y, w, h = b
    x += rng.gauss(0, amount * w)
    y += rng.gauss(0, amount * h)
    w *= math.exp(rng.gauss(0, amount))
    h *= math.exp(rng.gauss(0, amount))
    x = min(max(x, 0.0), w_img - 1)
    y = min(max(y, 0.0), h_img - 1)
    return [x, y, max(min(w, w_img - x), 0.5), max(min(h, h_img - y), 0.5)]


def r2(b):
    return [round(v, 2) for v in b]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2017)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--score-decimals", type=int, default=3)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    num_cats = 80
    # COCO's category ids skip some numbers (1..90)
    cat_ids = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
    assert len(cat_ids) == num_cats
    # a skewed class frequency, as in COCO (person dominates)
    weights = [1.0 / (1 + 0.15 * i) for i in range(num_cats)]
    weights[0] = 12.0
    images, anns, dets = [], [], []
    ann_id = 1
    for img in range(1, a.images + 1):
        w_img, h_img = rng.choice([(640, 480), (480, 640), (640, 427), (500, 375), (640, 512)])
        images.append({"id": img, "width": w_img, "height": h_img, "file_name": "%012d.jpg" % img})
        n_obj = min(max(int(rng.expovariate(1 / 7.3)), 0), 60)
        objs = []
        for _ in range(n_obj):
            u = rng.random()
            if u < 0.41:
                area = rng.uniform(16, 32 * 32)
            elif u < 0.75:
                area = rng.uniform(32 * 32, 96 * 96)
            else:
                area = min(rng.uniform(96 * 96, 400 * 300), 0.9 * w_img * h_img)
            cat = rng.choices(cat_ids, weights)[0]
            b = box_of_area(rng, area, w_img, h_img)
            crowd = 1 if rng.random() < 0.01 else 0
            objs.append((b, cat))
            anns.append({"id": ann_id, "image_id": img, "category_id": cat, "bbox": r2(b),
                         "area": round(b[2] * b[3] * rng.uniform(0.55, 0.95), 2),
                         "iscrowd": crowd})
            ann_id += 1
        mine = []
        for b, cat in objs:
            for k in range(rng.choice([1, 1, 2, 3])):
                c = cat if rng.random() < 0.85 else rng.choice(cat_ids)
                jb = jitter(rng, b, w_img, h_img, 0.05 + 0.1 * k)
                mine.append((c, jb, rng.betavariate(4, 2)))
        while len(mine) < a.dets:
            area = math.exp(rng.uniform(math.log(64), math.log(0.5 * w_img * h_img)))
            mine.append((rng.choices(cat_ids, weights)[0], box_of_area(rng, area, w_img, h_img),
                         rng.betavariate(1.5, 5)))
        mine = mine[:a.dets]
        for c, b, s in mine:
            dets.append({"image_id": img, "category_id": c, "bbox": r2(b), "score": round(s, a.score_decimals)})
    cats = [{"id": c, "name": "class%d" % c, "supercategory": "thing"} for c in cat_ids]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gt.json"), "w") as f:
        json.dump({"info": {"description": "kcv cocoeval benchmark (synthetic)"},
                   "images": images, "annotations": anns, "categories": cats}, f)
    with open(os.path.join(a.out, "dt.json"), "w") as f:
        json.dump(dets, f)
    print("%d images, %d categories, %d annotations (%d crowd), %d detections" %
          (len(images), len(cats), len(anns), sum(x["iscrowd"] for x in anns), len(dets)))


if __name__ == "__main__":
    main()
