#!/usr/bin/env python3
"""Writes the JPEG fixtures of src/engine/image/jpeg_dc_tests.rs into this directory:
the layouts the 1/8-scale DC decoder must read like a full decoder (progressive with
DC refinement, gray, chroma subsampling 4:2:0 and 4:2:2, restart intervals, sizes that
are not multiples of 8 or 16). The picture is synthetic (smooth gradients, hard edges,
fine texture) so the files are ours to ship. Deterministic; the output is committed,
so run this only to change the files.

    /opt/image_search/venv/bin/python test/data/jpeg/make_fixtures.py
"""
import os
import random

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def picture(width, height):
    rng = random.Random(8)
    img = Image.new("RGB", (width, height))
    px = img.load()
    for y in range(height):
        for x in range(width):
            texture = rng.randint(-12, 12)
            px[x, y] = (
                max(0, min(255, x * 255 // width + texture)),
                max(0, min(255, y * 255 // height - texture)),
                max(0, min(255, 160 + (x ^ y) % 64 - 32)),
            )
    draw = ImageDraw.Draw(img)
    draw.ellipse((width // 5, height // 6, width // 2, height // 2), fill=(230, 40, 30))
    draw.rectangle((width * 3 // 5, height // 2, width - 9, height - 13), fill=(20, 30, 200))
    for i in range(0, width, 11):
        draw.line((i, height - 1, i + height // 3, height * 2 // 3), fill=(250, 250, 250), width=2)
    return img


def main():
    colour = picture(203, 157)
    save = lambda img, name, **opts: img.save(os.path.join(HERE, name), "JPEG", quality=90, **opts)
    save(colour, "progressive_420.jpg", progressive=True, subsampling=2)
    save(colour.convert("L"), "progressive_gray.jpg", progressive=True)
    save(colour, "baseline_422_restart.jpg", subsampling=1, restart_marker_blocks=5)
    save(colour, "progressive_444_restart.jpg", progressive=True, subsampling=0, restart_marker_rows=1)
    save(picture(64, 40).convert("L"), "baseline_gray.jpg")


if __name__ == "__main__":
    main()
