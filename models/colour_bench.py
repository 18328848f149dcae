#!/usr/bin/env python3
"""Colour near-duplicate benchmark built from photographs shipped in Debian packages.

Each source picture is edited COPIES (5) times with a seeded random mix of the edits
people make to a photo: crop, resize, horizontal flip, small rotation, brightness /
contrast / saturation change, grayscale, a solid border, JPEG re-compression.  The
task: a copy's relevant neighbours are the other copies of the same source
(precision@4 with 5 copies = all four found).  The photos themselves are never
committed: this script extracts them from the installed packages, deterministically.

    apt-get install mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 \\
        plasma-workspace-wallpapers ukui-wallpapers opencv-doc
    python models/colour_bench.py --out /tmp/colour_bench     # writes JPEGs + labels.csv

Sources: every real photograph in those packages (curated list PHOTOS: 55), topped up
to N_SOURCES (80) with the most distinct rendered wallpapers (list RENDERS, taken in
order).  Large wallpapers are decoded at reduced scale (JPEG draft) to <= 1600 px.
"""
import argparse
import csv
import io
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

SEED = 20261128
COPIES = 5
N_SOURCES = 80

BG = "/usr/share/backgrounds/"
WP = "/usr/share/wallpapers/"
CV = "/usr/share/doc/opencv-doc/examples/"

# (path, package) — real photographs only
PHOTOS = [(BG + f, "lomiri-wallpapers-16.04") for f in [
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "analogpattern_by_Peter_Nerlich.jpg", "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg"]] + [
    (BG + f, "lomiri-wallpapers-20.04") for f in ["Infinite-Sea_by_Aury88.jpg", "Kleiber_by_Lukas_Baubkus.jpg"]] + [
    (BG + "mate/nature/" + f, "mate-backgrounds") for f in [
        "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg", "LadyBird.jpg",
        "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg"]] + [
    (WP + f, "plasma-workspace-wallpapers") for f in [
        "BytheWater/contents/images/2560x1600.jpg", "ColdRipple/contents/images/2560x1600.jpg",
        "ColorfulCups/contents/images/2560x1600.jpg", "DarkestHour/contents/images/2560x1600.jpg",
        "EveningGlow/contents/images/2560x1600.jpg", "FallenLeaf/contents/images/2560x1600.jpg",
        "Grey/contents/images/2560x1600.jpg", "Kite/contents/images/2560x1600.jpg",
        "OneStandsOut/contents/images/2560x1600.jpg", "Path/contents/images/2560x1600.jpg",
        "Volna/contents/images/5120x2880.jpg", "summer_1am/contents/images/2560x1600.jpg"]] + [
    (CV + "data/" + f, "opencv-doc") for f in [
        "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg",
        "graf1.png", "home.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
        "squirrel_cls.jpg"]] + [(CV + "alphamat/input_images/plant.jpg", "opencv-doc")]

# rendered wallpapers, most distinct first; used only to top up to N_SOURCES
RENDERS = [(BG + f, "ukui-wallpapers") for f in [
    "2004default.jpg", "calla.png", "city.png", "desert.png", "goldfish.png", "rollpaper.png", "the-mouse.jpg"]] + [
    (WP + f, "plasma-workspace-wallpapers") for f in [
        "Altai/contents/images/5120x2880.png", "Autumn/contents/images/2560x1600.jpg",
        "Canopee/contents/images/3840x2160.png", "Cluster/contents/images/3840x2160.png",
        "FlyingKonqui/contents/images/2560x1600.png", "Honeywave/contents/images/5120x2880.jpg",
        "Kay/contents/images/5120x2880.png", "MilkyWay/contents/images/5120x2880.png",
        "PastelHills/contents/images/3200x2000.jpg", "SafeLanding/contents/images/5120x2880.jpg",
        "Shell/contents/images/5120x2880.jpg", "Patak/contents/images/5120x2880.png",
        "Cascade/contents/images/3840x2160.png", "IceCold/contents/images/5120x2880.png",
        "Kokkini/contents/images/3840x2160.png", "Opal/contents/images/3840x2160.png",
        "Elarun/contents/images/2560x1600.png", "Flow/contents/images/5120x2880.jpg"]] + [
    (BG + f, "lomiri-wallpapers-20.04") for f in ["Painting-Colors_by__herobrine7gamer.jpg", "Fossa_by_Jasper_Roks.jpg"]] + [
    (BG + "mate/abstract/" + f, "mate-backgrounds") for f in ["Elephants.jpg", "Gulp.png", "Flow.png"]] + [
    (BG + f, "ukui-wallpapers") for f in ["rhythm.jpg", "string.jpg", "fluent-color.png"]]


def sources():
    out = [(p, pkg, "photo") for p, pkg in PHOTOS if os.path.exists(p)]
    missing = [p for p, _ in PHOTOS if not os.path.exists(p)]
    if missing:
        print(f"warning: {len(missing)} photos missing (install the packages): {missing[:3]}...", file=sys.stderr)
    for p, pkg in RENDERS:
        if len(out) >= N_SOURCES:
            break
        if os.path.exists(p):
            out.append((p, pkg, "render"))
    return out


def load_source(path, max_side=1600):
    im = Image.open(path)
    im.draft("RGB", (max_side, max_side))  # JPEG DCT-domain downscale: fast for multi-megapixel files
    im = im.convert("RGB")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.BILINEAR)
    return im


def edit(im, rng):
    """One seeded random edit chain -> (PIL image, description)."""
    ops = []
    w, h = im.size
    if rng.rand() < 0.8:  # crop
        area = rng.uniform(0.45, 0.95)
        ar = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
        cw = min(w, int(round(w * np.sqrt(area * ar))))
        ch = min(h, int(round(h * np.sqrt(area / ar))))
        x0 = rng.randint(0, w - cw + 1)
        y0 = rng.randint(0, h - ch + 1)
        im = im.crop((x0, y0, x0 + cw, y0 + ch))
        ops.append(f"crop{area:.2f}")
    if rng.rand() < 0.3:  # small rotation, then cut off the empty corners
        deg = rng.uniform(-10, 10)
        w, h = im.size
        im = im.rotate(deg, resample=Image.BILINEAR, expand=False)
        f = 1 - np.sin(np.deg2rad(abs(deg))) * 1.2
        im = im.crop((int(w * (1 - f) / 2), int(h * (1 - f) / 2), int(w * (1 + f) / 2), int(h * (1 + f) / 2)))
        ops.append(f"rot{deg:.1f}")
    if rng.rand() < 0.3:
        im = ImageOps.mirror(im)
        ops.append("flip")
    side = int(rng.uniform(160, 1024))  # resize: long side
    w, h = im.size
    s = side / max(w, h)
    im = im.resize((max(8, int(round(w * s))), max(8, int(round(h * s)))), Image.BILINEAR)
    ops.append(f"resize{side}")
    if rng.rand() < 0.7:
        b, c, sat = rng.uniform(0.7, 1.3), rng.uniform(0.7, 1.3), rng.uniform(0.5, 1.5)
        im = ImageEnhance.Brightness(im).enhance(b)
        im = ImageEnhance.Contrast(im).enhance(c)
        im = ImageEnhance.Color(im).enhance(sat)
        ops.append(f"colour{b:.2f},{c:.2f},{sat:.2f}")
    if rng.rand() < 0.15:
        im = ImageOps.grayscale(im).convert("RGB")
        ops.append("gray")
    if rng.rand() < 0.2:
        bw = int(max(im.size) * rng.uniform(0.03, 0.10))
        col = tuple(int(v) for v in rng.randint(0, 256, 3))
        im = ImageOps.expand(im, border=bw, fill=col)
        ops.append(f"border{bw}")
    q = int(rng.uniform(30, 90))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=q)
    ops.append(f"jpeg{q}")
    return buf.getvalue(), " ".join(ops)


def generate(out_dir, seed=SEED, copies=COPIES):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(seed)
    rows = []
    srcs = sources()
    for label, (path, pkg, kind) in enumerate(srcs):
        im = load_source(path)
        for c in range(copies):
            data, desc = edit(im, rng)
            fname = f"{label:03d}_{c}.jpg"
            with open(os.path.join(out_dir, fname), "wb") as fh:
                fh.write(data)
            rows.append((fname, label, kind, pkg, path, desc))
    with open(os.path.join(out_dir, "labels.csv"), "w", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["filename", "label", "kind", "package", "source", "edits"])
        wr.writerows(rows)
    return rows, srcs


def load(out_dir):
    """-> (list of PIL RGB images, labels int array, kinds list)."""
    with open(os.path.join(out_dir, "labels.csv")) as fh:
        rows = list(csv.DictReader(fh))
    ims = [Image.open(os.path.join(out_dir, r["filename"])).convert("RGB") for r in rows]
    return ims, np.array([int(r["label"]) for r in rows]), [r["kind"] for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/colour_bench")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    rows, srcs = generate(a.out, a.seed)
    n_photo = sum(1 for s in srcs if s[2] == "photo")
    print(f"{len(srcs)} sources ({n_photo} photos, {len(srcs) - n_photo} renders) x {COPIES} copies = {len(rows)} images in {a.out}")


if __name__ == "__main__":
    main()
