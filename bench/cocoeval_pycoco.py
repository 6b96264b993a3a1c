#!/usr/bin/env python3
"""pycocotools' side of bench/cocoeval.sh: COCO(gt), loadRes(dt), then
evaluate() + accumulate() + summarize() timed, as in every COCO evaluation
script. Prints one JSON line: the times and the 12 stats.

pycocotools is imported from $PYCOCOTOOLS_DIR (a built cocoapi/PythonAPI:
python3 setup.py build_ext --inplace, outside this repository). Two shims
let the 2.0 source run here: coco.py imports matplotlib for showAnns only
(stubbed), and accumulate() uses np.float, removed in numpy 1.24 (aliased to
float, which it was).

Usage: PYCOCOTOOLS_DIR=... cocoeval_pycoco.py GT.json DT.json
"""
import contextlib
import io
import json
import os
import sys
import time
import types


def main():
    sys.path.insert(0, os.environ["PYCOCOTOOLS_DIR"])
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.collections",
                 "matplotlib.patches"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["matplotlib.collections"].PatchCollection = None
    sys.modules["matplotlib.patches"].Polygon = None
    import numpy as np
    if not hasattr(np, "float"):
        np.float = float
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(sys.argv[1])
        dt = gt.loadRes(sys.argv[2])
    t1 = time.perf_counter()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    t2 = time.perf_counter()
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
             "ARl"]
    print(json.dumps({"load_s": t1 - t0, "eval_s": t2 - t1,
                      "stats": {n: float(v) for n, v in zip(names, ev.stats)}}))


if __name__ == "__main__":
    main()
