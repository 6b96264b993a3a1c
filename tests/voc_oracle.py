"""Independent count of VOC objects per class, straight from the XML files
(the oracle for `kcv data --stats --json`). Usage: voc_oracle.py VOCDEVKIT YEAR SPLITFILE"""
import json
import sys
import xml.etree.ElementTree as ET

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
           "train", "tvmonitor"]

root, year, split = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"{root}/VOC{year}"
ids = [l.strip() for l in open(f"{base}/ImageSets/Main/{split}.txt") if l.strip()]
counts = {c: {"objects": 0, "difficult": 0} for c in CLASSES}
for i in ids:
    tree = ET.parse(f"{base}/Annotations/{i}.xml")
    for obj in tree.getroot().findall("object"):  # direct children only: no person parts
        name = obj.find("name").text.strip()
        counts[name]["objects"] += 1
        d = obj.find("difficult")
        counts[name]["difficult"] += int(d.text) if d is not None else 0
print(json.dumps({"images": len(ids), "classes": counts}))
