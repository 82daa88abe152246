#!/usr/bin/env python3
"""Decode benchmark on the files art collections hold: artlens vs Pillow + torchvision, per image on
one core, in alternating rounds, with the ratio per round.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    /opt/refenv/bin/python scripts/bench_decode.py [--rounds 3] [--reps 3] [--threads N]
        [--only 1mp,3mp,...] [--dev-o3] [--json]

The files (made once into target/bench-decode/, no downloads; about 200 MB): photograph-like
pictures (soft gradients and blobs, hard edges, fine texture, sensor noise) at 1, 3, 12 and 24 MP
(1152x864, 2048x1536, 4000x3000, 6000x4000) as JPEG, quality 90, baseline and progressive, 4:2:0
and 4:4:4 (16 files); a 12 MP 16-bit RGB TIFF (uncompressed, strips of 64 rows, as scanners write);
a 12 MP PNG (8-bit RGB, zlib level 6).

Each image goes through decode -> EXIF orientation -> DINOv2's preprocessing at 224 px (shorter side
to 224 with Pillow's bicubic, centre crop 224, to float, normalise):

* artlens: `cargo bench --bench decode -- --json --reps R FILES` (benches/decode.rs), on one thread.
  It also times the `image` crate's own decoder (zune-jpeg, what artlens used before libjpeg-turbo)
  through the same preprocessing: the "before" column.
* artlens `--decode fast` (same bench): a large JPEG decoded at 1/2, 1/4 or 1/8 size in the DCT
  domain, then the same preprocessing; the "fast" column and its speed-up over the exact path
  (`fast x`, exact ms / fast ms, per round).
* Pillow: `Image.open(p)`, `.convert("RGB")`, `ImageOps.exif_transpose(in_place=True)`, then
  torchvision's `Resize(224, BICUBIC, antialias=True)`, `CenterCrop(224)`, `ToTensor()`,
  `Normalize(...)` (timm's eval transform for DINOv2 at 224), `torch.set_num_threads(1)`.

Both report the median of R runs per file; the rounds alternate (artlens, Pillow, artlens, ...),
because this kind of machine's speed drifts by tens of percent between minutes. Ratio = Pillow's ms
/ artlens' ms (> 1: artlens faster). `--threads N` (N > 1) adds the whole file list through a pool
of N workers on each side (rayon in artlens, multiprocessing in Python).

`--dev-o3` builds the bench in the dev profile with artlens itself at opt-level 3 (its dependencies
are at 3 there already), for a machine whose release dependencies are not built; the default is
`cargo bench`'s release build. This is a benchmark, not a test: it prints a table (or JSON) and
exits 0 unless something could not run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
FILES_DIR = REPO / "target" / "bench-decode"
SIZES = {"1mp": (1152, 864), "3mp": (2048, 1536), "12mp": (4000, 3000), "24mp": (6000, 4000)}
SEED = 27


# ------------------------------------------------------------------------------------------------
# the files
# ------------------------------------------------------------------------------------------------

def photo_like(w: int, h: int, seed: int) -> np.ndarray:
    """u8 [h, w, 3]: smooth content made at 1/8 size and enlarged, then full-resolution edges,
    texture and noise, so that every 8x8 block has detail as in a real photograph or scan."""
    rng = np.random.default_rng(seed)
    sw, sh = max(8, w // 8), max(8, h // 8)
    y, x = np.mgrid[0:sh, 0:sw].astype(np.float32)
    small = np.stack([200 * x / sw, 160 * y / sh, 90 + 60 * np.sin(x / 9 + y / 23)], -1)
    for _ in range(24):
        cx, cy, s = rng.uniform(0, sw), rng.uniform(0, sh), rng.uniform(2, sw / 4)
        small += rng.uniform(-110, 110, 3).astype(np.float32) * np.exp(
            -((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))[..., None]
    base = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8), "RGB").resize((w, h), Image.BICUBIC)
    img = np.asarray(base).astype(np.int16)
    for i in range(0, h, 512):  # noise in bands, to bound the memory of the float draw
        band = img[i:i + 512]
        band += rng.normal(0, 5, band.shape).astype(np.int16)
    yy, xx = np.ogrid[0:h, 0:w]
    img[np.abs(xx - 0.6 * yy - w / 3) < 3] = (250, 240, 20)          # a hard diagonal
    img[h // 3: h // 3 + h // 60, w // 5: w // 2] = (10, 10, 120)   # a saturated bar
    y0, x0 = int(0.7 * h), int(0.75 * w)                             # fine texture in a corner
    tex = (((xx[:, x0:] // 2 + yy[y0:] // 2) % 2) * 180).astype(np.int16)
    img[y0:, x0:] = np.stack([tex, tex, 255 - tex], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_tiff16(path: Path, rgb16: np.ndarray, rows_per_strip: int = 64) -> None:
    """An uncompressed little-endian 16-bit RGB TIFF (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    data = rgb16.astype("<u2")
    strips = [data[i:i + rows_per_strip].tobytes() for i in range(0, h, rows_per_strip)]
    n = len(strips)
    entries = 10
    ifd_at = 8
    extra_at = ifd_at + 2 + entries * 12 + 4
    bps_at, offsets_at = extra_at, extra_at + 6
    counts_at = offsets_at + 4 * n
    pixels_at = counts_at + 4 * n
    offsets, at = [], pixels_at
    for s in strips:
        offsets.append(at)
        at += len(s)

    def entry(tag, typ, count, value):
        return struct.pack("<HHII", tag, typ, count, value)

    out = bytearray(b"II*\0" + struct.pack("<I", ifd_at) + struct.pack("<H", entries))
    out += entry(256, 4, 1, w) + entry(257, 4, 1, h) + entry(258, 3, 3, bps_at)
    out += entry(259, 3, 1, 1) + entry(262, 3, 1, 2) + entry(273, 4, n, offsets_at)
    out += entry(277, 3, 1, 3) + entry(278, 4, 1, rows_per_strip) + entry(279, 4, n, counts_at)
    out += entry(284, 3, 1, 1) + struct.pack("<I", 0)
    out += struct.pack("<HHH", 16, 16, 16)
    out += struct.pack(f"<{n}I", *offsets) + struct.pack(f"<{n}I", *(len(s) for s in strips))
    assert len(out) == pixels_at
    with open(path, "wb") as f:
        f.write(out)
        for s in strips:
            f.write(s)


def make_files(only: set[str] | None) -> list[Path]:
    FILES_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (tag, (w, h)) in enumerate(SIZES.items()):
        variants = [(f"{tag}_{kind}_{sub}.jpg", kind, sub) for kind in ("baseline", "progressive")
                    for sub in ("420", "444")]
        extra = []
        if tag == "12mp":
            extra = [("12mp_rgb16.tif", "tiff", None), ("12mp.png", "png", None)]
        todo = [(FILES_DIR / name, kind, sub) for name, kind, sub in variants + extra
                if only is None or tag in only or name.split(".")[-1] in only]
        missing = [t for t in todo if not t[0].is_file()]
        if missing:
            rgb = photo_like(w, h, SEED + i)
            im = Image.fromarray(rgb, "RGB")
            for path, kind, sub in missing:
                if kind == "tiff":
                    # 16 bits: the 8-bit picture plus a low byte of its own, as a scanner's is.
                    low = np.random.default_rng(SEED).integers(0, 256, rgb.shape, dtype=np.uint16)
                    write_tiff16(path, (rgb.astype(np.uint16) << 8) | low)
                elif kind == "png":
                    im.save(path, format="PNG", compress_level=6)
                else:
                    im.save(path, format="JPEG", quality=90, progressive=kind == "progressive",
                            subsampling=0 if sub == "444" else 2)
                print(f"  wrote {path.relative_to(REPO)} ({path.stat().st_size / 1e6:.1f} MB)",
                      file=sys.stderr)
        paths += [t[0] for t in todo]
    return paths


# ------------------------------------------------------------------------------------------------
# the two sides
# ------------------------------------------------------------------------------------------------

def bench_binary(dev_o3: bool) -> Path:
    """Builds benches/decode.rs and returns the executable."""
    cmd = ["cargo", "bench" if not dev_o3 else "build", "--bench", "decode", "--message-format=json"]
    if dev_o3:
        cmd += ["--config", "profile.dev.package.artlens.opt-level=3",
                "--config", "profile.dev.package.artlens.debug-assertions=false",
                "--config", "profile.dev.package.artlens.overflow-checks=false"]
    else:
        cmd += ["--no-run"]
    out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
    exes = [m["executable"] for m in map(json.loads, out.splitlines())
            if m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "decode"]
    if not exes:
        sys.exit("could not find the decode bench executable")
    return Path(exes[-1])


def run_artlens(exe: Path, files: list[Path], reps: int, threads: int) -> dict:
    args = [str(exe), "--json", "--reps", str(reps), "--threads", str(threads), *map(str, files)]
    out = subprocess.run(args, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


_TRANSFORM = None


def _transform():
    global _TRANSFORM
    if _TRANSFORM is None:
        import torch
        from torchvision import transforms as T
        torch.set_num_threads(1)
        _TRANSFORM = T.Compose([
            T.Resize(224, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.CenterCrop(224), T.ToTensor(),
            T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
    return _TRANSFORM


def pillow_one(path: str):
    im = Image.open(path).convert("RGB")
    ImageOps.exif_transpose(im, in_place=True)
    return _transform()(im)


def median_ms(reps: int, f) -> float:
    times = []
    for _ in range(max(1, reps)):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def run_pillow(files: list[Path], reps: int, threads: int, pool) -> dict:
    _transform()
    rows = [{"file": str(f), "ms": median_ms(reps, lambda f=f: pillow_one(str(f)))} for f in files]
    out = {"rows": rows}
    if pool is not None:
        t = time.perf_counter()
        pool.map(pillow_one, [str(f) for f in files], chunksize=1)
        out["pool_images_per_s"] = len(files) / (time.perf_counter() - t)
    return out


def _pool_init():
    os.environ["OMP_NUM_THREADS"] = "1"
    _transform()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated: 1mp,3mp,12mp,24mp,tif,png")
    ap.add_argument("--dev-o3", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    files = make_files(only)
    exe = bench_binary(args.dev_o3)
    pool = None
    if args.threads > 1:
        pool = multiprocessing.get_context("fork").Pool(args.threads, initializer=_pool_init)
    rounds = []
    for r in range(args.rounds):
        a = run_artlens(exe, files, args.reps, args.threads)
        p = run_pillow(files, args.reps, args.threads, pool)
        rounds.append({"artlens": a, "pillow": p})
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr)
    if pool is not None:
        pool.close()

    table = []
    for i, f in enumerate(files):
        al = [rd["artlens"]["rows"][i]["pipeline_ms"] for rd in rounds]
        dec = [rd["artlens"]["rows"][i]["decode_ms"] for rd in rounds]
        before = [rd["artlens"]["rows"][i]["image_crate_ms"] for rd in rounds]
        pil = [rd["pillow"]["rows"][i]["ms"] for rd in rounds]
        fast = [rd["artlens"]["rows"][i]["fast_ms"] for rd in rounds]
        with Image.open(f) as im:
            mp = im.size[0] * im.size[1] / 1e6
        table.append({
            "file": f.name, "mp": round(mp, 2), "artlens_ms": statistics.median(al),
            "artlens_decode_ms": statistics.median(dec), "image_crate_ms": statistics.median(before),
            "pillow_ms": statistics.median(pil),
            "ratio_per_round": [p / a for p, a in zip(pil, al)],
            "ratio_median": statistics.median(p / a for p, a in zip(pil, al)),
            "before_ratio_median": statistics.median(p / b for p, b in zip(pil, before)),
            "fast_ms": statistics.median(fast),
            "fast_speedup_per_round": [a / f for a, f in zip(al, fast)],
            "fast_speedup_median": statistics.median(a / f for a, f in zip(al, fast)),
        })
    summary = {"cpu": cpu_name(), "rounds": args.rounds, "reps": args.reps, "files": table}
    if args.threads > 1:
        summary["pool"] = {
            "threads": args.threads,
            "artlens_images_per_s": [rd["artlens"]["pool_images_per_s"] for rd in rounds],
            "pillow_images_per_s": [rd["pillow"]["pool_images_per_s"] for rd in rounds],
        }
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"CPU: {summary['cpu']}; one thread; median of {args.reps} runs per file; "
          f"{args.rounds} alternating rounds")
    print(f"{'file':28} {'MP':>5} {'artlens':>9} {'(decode)':>9} {'before':>9} {'Pillow':>9} "
          f"{'ratio':>6}  per round       {'before':>6} {'fast':>9} {'fast x':>6}")
    for t in table:
        rr = " ".join(f"{x:.2f}" for x in t["ratio_per_round"])
        print(f"{t['file']:28} {t['mp']:5.1f} {t['artlens_ms']:8.1f}ms {t['artlens_decode_ms']:8.1f}ms "
              f"{t['image_crate_ms']:8.1f}ms {t['pillow_ms']:8.1f}ms {t['ratio_median']:6.2f}  {rr:15} "
              f"{t['before_ratio_median']:6.2f} {t['fast_ms']:8.1f}ms {t['fast_speedup_median']:6.2f}")
    if "pool" in summary:
        pl = summary["pool"]
        print(f"pool of {pl['threads']}: artlens "
              + ", ".join(f"{x:.1f}" for x in pl["artlens_images_per_s"]) + " images/s; Pillow "
              + ", ".join(f"{x:.1f}" for x in pl["pillow_images_per_s"]) + " images/s")
    print("ratio = Pillow ms / artlens ms (> 1: artlens faster); before = the image crate's decoder; "
          "fast x = artlens exact ms / artlens --decode fast ms")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
