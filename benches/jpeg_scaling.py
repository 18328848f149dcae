#!/usr/bin/env python3
"""How much DCT-scaled JPEG decoding could save on large photos.

Decodes the photos listed by benches/large_photos.sh (one path per line) with
libjpeg-turbo (Pillow's bundled copy) at full size and at 1/8 scale (`draft`, which
evaluates the DCT at reduced size), one core, and prints milliseconds per image,
split by baseline and progressive files.

    python benches/jpeg_scaling.py /tmp/image_search_large_photos.txt
"""
import statistics
import sys
import time

from PIL import Image


def decode_ms(path, scale):
    start = time.perf_counter()
    with Image.open(path) as im:
        if scale > 1:
            im.draft("RGB", (im.width // scale, im.height // scale))
        im.load()
    return (time.perf_counter() - start) * 1000


def main():
    paths = [p.strip() for p in open(sys.argv[1]) if p.strip()]
    rows = {}
    for p in paths:
        with Image.open(p) as im:
            kind = "progressive" if im.info.get("progressive") or im.info.get("progression") else "baseline"
        rows.setdefault(kind, []).append((decode_ms(p, 1), decode_ms(p, 8)))
    for kind, r in sorted(rows.items()):
        full, eighth = zip(*r)
        print(f"{kind:12s} {len(r):3d} photos: full {statistics.mean(full):6.1f} ms/img, "
              f"1/8 scale {statistics.mean(eighth):6.1f} ms/img ({statistics.mean(full) / statistics.mean(eighth):.1f}x)")
    allr = [x for r in rows.values() for x in r]
    full, eighth = zip(*allr)
    print(f"{'all':12s} {len(allr):3d} photos: full {statistics.mean(full):6.1f} ms/img, "
          f"1/8 scale {statistics.mean(eighth):6.1f} ms/img -> at most {2000 / statistics.mean(eighth):.0f} images/s on 2 cores")


if __name__ == "__main__":
    main()
