#!/usr/bin/env python3
"""Writes the hostile and unusual test images used by test/sql/hostile_images.sql
and test/sql/privileges.sql into this directory. Deterministic: no randomness,
no timestamps; the output is committed, so run this only to change the files.

    /opt/image_search/venv/bin/python test/data/make_hostile.py

Files (all tiny):
  empty.jpg          0 bytes
  text.jpg           a text file named .jpg
  truncated.jpg      the first 40% of a valid JPEG
  alpha.png          RGBA with a transparent half (composited over white)
  gray16.png         16-bit grayscale PNG; gray8.png is the same picture at 8 bits
  cmyk.jpg           CMYK JPEG
  one_pixel.png      1x1 grayscale PNG
  zero_width.png     hand-made PNG whose IHDR says 0x28 (valid CRCs)
  huge_header.png    hand-made PNG whose IHDR says 20000x20000 (valid CRCs) with a
                     tiny IDAT: a decompression bomb in miniature, refused from the header
  animated.gif       3 frames; first_frame.png is frame 1 as a PNG
  escape_link.jpg    symbolic link to /etc/passwd (outside image_search.image_root)
"""
import os
import struct
import zlib
from io import BytesIO

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


def digit_like(size=28):
    """A deterministic blob that looks vaguely like a digit: a ring."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    c = (size - 1) / 2
    r = np.hypot(x - c, y - c)
    ring = np.clip(1.0 - np.abs(r - size * 0.3) / (size * 0.08), 0, 1)
    return (ring * 255).round().astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def handmade_png(width: int, height: int) -> bytes:
    """Signature + IHDR (8-bit grayscale) + one tiny IDAT + IEND, every CRC correct.
    The IDAT holds one filter byte and one pixel: far less than the header promises."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00", 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def save(img, name, **kw):
    buf = BytesIO()
    img.save(buf, **kw)
    with open(out(name), "wb") as f:
        f.write(buf.getvalue())


def main():
    ring = digit_like()

    open(out("empty.jpg"), "wb").close()
    with open(out("text.jpg"), "w") as f:
        f.write("This is a text file, not a JPEG.\n")

    buf = BytesIO()
    Image.fromarray(ring).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    with open(out("truncated.jpg"), "wb") as f:
        f.write(jpeg[: len(jpeg) * 2 // 5])

    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 0] = ring
    rgba[..., 1] = 255 - ring
    rgba[..., 2] = 128
    rgba[..., 3] = 255
    rgba[:, 14:, 3] = 0  # right half fully transparent
    save(Image.fromarray(rgba), "alpha.png", format="PNG")

    # 16-bit samples v * 257 reduce exactly to the 8-bit v.
    gray16 = ring.astype(np.uint16) * 257
    save(Image.fromarray(gray16), "gray16.png", format="PNG")
    save(Image.fromarray(ring), "gray8.png", format="PNG")

    cmyk = np.zeros((28, 28, 4), np.uint8)
    cmyk[..., 0] = ring
    cmyk[..., 3] = 40
    save(Image.frombytes("CMYK", (28, 28), cmyk.tobytes()), "cmyk.jpg", format="JPEG", quality=90)

    save(Image.fromarray(np.array([[200]], np.uint8)), "one_pixel.png", format="PNG")

    with open(out("zero_width.png"), "wb") as f:
        f.write(handmade_png(0, 28))
    with open(out("huge_header.png"), "wb") as f:
        f.write(handmade_png(20000, 20000))

    frames = [Image.fromarray(ring), Image.fromarray(255 - ring), Image.fromarray(ring[::-1].copy())]
    buf = BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, optimize=False)
    with open(out("animated.gif"), "wb") as f:
        f.write(buf.getvalue())
    save(frames[0], "first_frame.png", format="PNG")

    link = out("escape_link.jpg")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("/etc/passwd", link)


if __name__ == "__main__":
    main()
