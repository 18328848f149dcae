#!/usr/bin/env python3
"""Writes the EXIF orientation fixtures of test/sql/orientation.sql into this directory:
a white "F" on black (it looks different under each of the 8 EXIF orientations), as
  f_<size>.jpg              upright, no tag
  f_<size>_tag6.jpg         stored turned 90 degrees counter-clockwise, tagged Orientation 6
                            ("turn 90 degrees clockwise to show"), as a phone held sideways writes it
  f_<size>_untagged.jpg     the same stored pixels without the tag (what ignoring the tag sees)
for a small picture (decoded in full) and a large one (decoded at 1/8 scale from the DC
coefficients for a 28-pixel model). Synthetic, so the files are ours to ship; the output
is committed, so run this only to change the files.

    /tmp/isvenv/bin/python test/data/orientation/make_fixtures.py
"""
import os

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def letter_f(width, height):
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    u = width // 5  # stroke width
    draw.rectangle((u, u, 2 * u, height - u), fill=255)            # stem
    draw.rectangle((u, u, width - u, 2 * u), fill=255)             # top bar
    draw.rectangle((u, height // 2 - u // 2, width - 2 * u, height // 2 + u // 2), fill=255)  # middle bar
    return img


def main():
    for size, (w, h) in {"small": (40, 56), "large": (240, 336)}.items():
        upright = letter_f(w, h)
        stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
        exif = Image.Exif()
        exif[0x0112] = 6
        save = lambda img, name, **opts: img.save(os.path.join(HERE, name), "JPEG", quality=95, **opts)
        save(upright, f"f_{size}.jpg")
        save(stored, f"f_{size}_tag6.jpg", exif=exif.tobytes())
        save(stored, f"f_{size}_untagged.jpg")


if __name__ == "__main__":
    main()
