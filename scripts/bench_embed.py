#!/usr/bin/env python3
"""Benchmark: artlens vs the PyTorch reference models, same weights, same images, same threads.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    cargo build --release
    .venv/bin/python scripts/bench_embed.py [--mode model|e2e|both] [--models dino dinov2 dinov2@224]
        [--weights-dir DIR] [--batch-size 8] [--iters 3] [--images 48] [--rounds 3]
        [--threads N] [--artlens target/release/artlens] [--device cpu|cuda:0] [--json]

Two measurements, each alternating artlens and PyTorch `--rounds` times in one run (this machine's
speed drifts by ±25% between minutes, so only alternating rounds compare fairly), reporting each
side's median and the median of the per-round ratios:

* model (forward pass only): `ARTLENS --quiet bench --model M --weights DIR/CKPT --batch-size B
  --iters N --threads T --json` against a `torch.inference_mode()` loop over a random
  [B,3,S,S] batch after one warm-up (transformers `ViTModel(add_pooling_layer=False)` for dino,
  `timm.create_model("local-dir:DIR/dinov2", img_size=S)` for dinov2).
* preprocess (decode and preprocessing alone, one thread, ms per image over the same JPEGs):
  `cargo bench --bench preprocess -- --json FILES` (artlens' decode + Pillow-exact resize/crop +
  normalise) against Pillow's open + convert("RGB") + the reference processor, one image at a
  time with `torch.set_num_threads(1)`; ratio = Pillow's ms / artlens' ms (> 1: artlens faster).
* e2e (end to end over image files: read, decode, Pillow-exact resize/crop, normalise, forward):
  `--images` JPEGs (generated once into target/bench-images: 1024x768 and 768x1024, quality 90).
  artlens: `ARTLENS --quiet embed --model M ... --json FILES`, run over the first batch alone and
  over all files; marginal images/s = (all - first batch) / (time(all) - time(first batch)), which
  takes process start, weight loading and the first (warm-up) batch out. PyTorch: one process per
  round, images opened with Pillow and preprocessed by the reference processors (transformers
  `ViTImageProcessorPil` for dino, timm's `create_transform(resolve_data_config(model))` for
  dinov2), batch by batch on the main thread as a plain script would, the same marginal rate
  (the first batch excluded). Both sides use `--threads` threads for the model.

DIR (default target/bench-weights) must hold full-size checkpoints (DIR/dino: transformers ViTModel
ViT-B/16; DIR/dinov2: timm ViT-B/14 at 518); when they are missing, `tests/fixtures/make_fixtures.py
--full DIR` writes random ones first (a few minutes, ~700 MB).

This is a benchmark, not a test: it prints a table (or JSON with --json) and exits 0 unless
something could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAKE_FIXTURES = REPO / "tests" / "fixtures" / "make_fixtures.py"
# A model spec: (checkpoint folder under DIR, input size). `dinov2@224` is the same checkpoint at 224.
SPECS = {"dino": ("dino", 224), "dinov2": ("dinov2", 518), "dinov2@224": ("dinov2", 224)}
IMAGES_DIR = REPO / "target" / "bench-images"


def weights_present(d: Path) -> bool:
    need = ["dino/model.safetensors", "dino/config.json", "dino/preprocessor_config.json",
            "dinov2/model.safetensors", "dinov2/config.json"]
    if not all((d / f).is_file() for f in need):
        return False
    try:  # full-size, not the tiny fixtures
        return json.loads((d / "dino" / "config.json").read_text()).get("hidden_size") == 768
    except (OSError, ValueError):
        return False


def ensure_weights(d: Path) -> None:
    if weights_present(d):
        return
    print(f"generating full-size random checkpoints in {d} (make_fixtures.py --full) ...", file=sys.stderr)
    r = subprocess.run([sys.executable, str(MAKE_FIXTURES), "--full", str(d)], stdout=sys.stderr)
    if r.returncode != 0 or not weights_present(d):
        sys.exit(f"error: make_fixtures.py --full {d} failed (exit {r.returncode})")


def ensure_images(n: int) -> list[Path]:
    """`n` deterministic JPEGs, photo-sized (smooth gradients plus texture, both orientations)."""
    import numpy as np
    from PIL import Image

    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = IMAGES_DIR / f"bench_{i:03d}.jpg"
        paths.append(p)
        if p.is_file():
            continue
        rng = np.random.default_rng(i)
        w, h = (1024, 768) if i % 2 == 0 else (768, 1024)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([128 + 100 * np.sin(xx / (40 + 7 * c) + yy / (55 + 5 * c) + i) for c in range(3)], -1)
        noise = rng.normal(0, 18, (h, w, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(p, quality=90)
    return paths


def load_torch_model(spec: str, d: Path, device: str):
    """The reference model, its preprocessing (PIL image → [3,S,S] tensor) and its forward."""
    import torch

    ckpt, size = SPECS[spec]
    if ckpt == "dino":
        import transformers
        from transformers import ViTModel
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        try:  # transformers >= 5: the PIL backend has its own class
            from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil as Proc
        except ImportError:
            from transformers import ViTImageProcessor as Proc
        model = ViTModel.from_pretrained(str(d / "dino"), add_pooling_layer=False)
        proc = Proc.from_pretrained(str(d / "dino"))
        pre = lambda imgs: torch.as_tensor(proc(images=imgs, return_tensors="np")["pixel_values"])
        fwd = lambda x: model(pixel_values=x).last_hidden_state[:, 0]
    else:
        import timm
        import timm.data
        model = timm.create_model(f"local-dir:{d / 'dinov2'}", pretrained=True, img_size=size)
        cfg = timm.data.resolve_data_config({"input_size": (3, size, size)}, model=model)
        tf = timm.data.create_transform(**cfg)
        pre = lambda imgs: torch.stack([tf(im) for im in imgs])
        fwd = lambda x: model(x)
    model = model.eval().float().to(torch.device(device))
    return model, pre, fwd, size


def sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_torch_model(spec: str, d: Path, batch: int, iters: int, threads: int, device: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    model, _, fwd, s = load_torch_model(spec, d, device)
    x = torch.randn(batch, 3, s, s, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        out = fwd(x)  # warm-up
        sync(device)
        assert out.shape == (batch, 768), out.shape
        t0 = time.perf_counter()
        for _ in range(iters):
            fwd(x)
        sync(device)
        secs = time.perf_counter() - t0
    del model
    return {"images_per_s": batch * iters / secs, "seconds": secs}


def bench_torch_e2e(spec: str, d: Path, files: list[Path], batch: int, threads: int, device: str) -> dict:
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    model, pre, fwd, _ = load_torch_model(spec, d, device)
    marks = []
    with torch.inference_mode():
        for i in range(0, len(files), batch):
            imgs = [Image.open(p).convert("RGB") for p in files[i:i + batch]]
            x = pre(imgs).to(device)
            out = fwd(x)
            sync(device)
            assert out.shape[0] == len(imgs)
            marks.append((i + len(imgs), time.perf_counter()))
    del model
    (n0, t0), (n1, t1) = marks[0], marks[-1]
    return {"images_per_s": (n1 - n0) / (t1 - t0), "seconds": t1 - t0}


def bench_torch_preprocess(spec: str, d: Path, files: list[Path]) -> dict:
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    model, pre, _, _ = load_torch_model(spec, d, "cpu")
    del model
    t = time.perf_counter()
    for p in files:
        pre([Image.open(p).convert("RGB")])
    return {"ms_per_image": (time.perf_counter() - t) * 1e3 / len(files)}


def bench_artlens_preprocess(spec: str, d: Path, files: list[Path]) -> dict:
    env = dict(os.environ, PREPROCESS_WEIGHTS=str(d), PREPROCESS_MODELS=spec, PREPROCESS_ROUNDS="1")
    r = subprocess.run(["cargo", "bench", "--quiet", "--bench", "preprocess", "--", "--json"]
                       + [str(f) for f in files], cwd=REPO, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": f"exit {r.returncode}: {r.stderr.strip()[-500:]}"}
    rows = json.loads(r.stdout.strip().splitlines()[-1])["rows"]
    return {"ms_per_image": rows[0]["ms_per_image"]}


def artlens_cmd(exe: Path, spec: str, d: Path, threads: int, device: str) -> tuple[list[str], list[str]]:
    cmd = [str(exe), "--quiet"]
    return cmd, ["--model", spec, "--weights", str(d / SPECS[spec][0]), "--threads", str(threads),
                 "--device", device]


def bench_artlens_model(exe: Path, spec: str, d: Path, batch: int, iters: int, threads: int, device: str) -> dict:
    pre, model = artlens_cmd(exe, spec, d, threads, device)
    cmd = pre + ["bench"] + model + ["--batch-size", str(batch), "--iters", str(iters), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": f"exit {r.returncode}: {r.stderr.strip()[-500:]}"}
    lines = [l for l in r.stdout.splitlines() if l.strip().startswith("{")]
    if not lines:
        return {"error": f"no JSON line on stdout: {r.stdout.strip()[-300:]!r}"}
    obj = json.loads(lines[-1])
    if "images_per_s" not in obj:
        return {"error": f"JSON without images_per_s: {obj}"}
    return obj


def bench_artlens_e2e(exe: Path, spec: str, d: Path, files: list[Path], batch: int, threads: int,
                      device: str) -> dict:
    pre, model = artlens_cmd(exe, spec, d, threads, device)

    def run(fs: list[Path]) -> float | str:
        cmd = pre + ["embed"] + model + ["--batch-size", str(batch), "--json"] + [str(f) for f in fs]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.perf_counter() - t
        if r.returncode != 0:
            return f"exit {r.returncode}: {r.stderr.strip()[-500:]}"
        if sum(1 for l in r.stdout.splitlines() if l.startswith("{")) != len(fs):
            return f"expected {len(fs)} JSON lines, got: {r.stdout[:200]!r}"
        return secs

    first, whole = run(files[:batch]), run(files)
    for v in (first, whole):
        if isinstance(v, str):
            return {"error": v}
    return {"images_per_s": (len(files) - batch) / (whole - first), "seconds": whole - first}


def median(v: list[float]) -> float | None:
    v = sorted(v)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights-dir", type=Path, default=REPO / "target" / "bench-weights")
    ap.add_argument("--mode", choices=["model", "e2e", "preprocess", "both", "all"], default="both",
                    help="both = model and e2e; all = model, e2e and preprocess")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3, help="timed forward passes per model-only run")
    ap.add_argument("--images", type=int, default=48, help="JPEGs per end-to-end run")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--artlens", type=Path, default=REPO / "target" / "release" / "artlens")
    ap.add_argument("--models", nargs="+", choices=list(SPECS), default=["dino", "dinov2@224", "dinov2"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both sides)")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate artlens and PyTorch this many times; medians and the median ratio")
    args = ap.parse_args()

    d = args.weights_dir.resolve()
    ensure_weights(d)
    if not args.artlens.is_file():
        sys.exit(f"error: {args.artlens} not found (cargo build --release)")
    modes = {"both": ["model", "e2e"], "all": ["model", "e2e", "preprocess"]}.get(args.mode, [args.mode])
    files = ensure_images(args.images) if {"e2e", "preprocess"} & set(modes) else []

    rows = []
    for mode in modes:
        for m in args.models:
            row = {"mode": mode, "model": m, "input": SPECS[m][1], "batch_size": args.batch_size,
                   "threads": args.threads, "device": args.device, "artlens_runs": [], "pytorch_runs": []}
            for r in range(max(1, args.rounds)):
                print(f"{mode} {m}: round {r + 1}/{args.rounds}", file=sys.stderr)
                if mode == "preprocess":
                    # Lower is better here: the "images/s" columns hold 1000 / ms.
                    a = bench_artlens_preprocess(m, d, files)
                    t = bench_torch_preprocess(m, d, files)
                    if "error" not in a:
                        a = {"images_per_s": 1e3 / a["ms_per_image"]}
                    t = {"images_per_s": 1e3 / t["ms_per_image"]}
                elif mode == "model":
                    a = bench_artlens_model(args.artlens, m, d, args.batch_size, args.iters, args.threads, args.device)
                    t = bench_torch_model(m, d, args.batch_size, args.iters, args.threads, args.device)
                else:
                    a = bench_artlens_e2e(args.artlens, m, d, files, args.batch_size, args.threads, args.device)
                    t = bench_torch_e2e(m, d, files, args.batch_size, args.threads, args.device)
                if "error" in a:
                    row["artlens_error"] = a["error"]
                    break
                row["artlens_runs"].append(a["images_per_s"])
                row["pytorch_runs"].append(t["images_per_s"])
            ratios = [a / t for a, t in zip(row["artlens_runs"], row["pytorch_runs"])]
            row["artlens_images_per_s"] = median(row["artlens_runs"])
            row["pytorch_images_per_s"] = median(row["pytorch_runs"])
            row["ratios"] = ratios
            row["ratio_median"] = median(ratios)
            rows.append(row)
            print(f"{mode} {m}: artlens {row['artlens_runs']}, PyTorch {row['pytorch_runs']}, "
                  f"ratio median {row['ratio_median']}", file=sys.stderr)

    if args.json:
        print(json.dumps({"weights_dir": str(d), "rows": rows}, indent=1))
    else:
        fmt = lambda v, p=2: "n/a" if v is None else f"{v:.{p}f}"
        print(f"threads {args.threads}, batch {args.batch_size}, device {args.device}, "
              f"{args.rounds} alternating round(s); e2e over {args.images} JPEGs (marginal rate); "
              f"preprocess: one thread, images/s = 1000 / ms per image")
        print(f"{'mode':<6} {'model':<11} {'input':>5} {'artlens img/s':>14} {'PyTorch img/s':>14} "
              f"{'ratio':>6}  rounds")
        for r in rows:
            print(f"{r['mode']:<6} {r['model']:<11} {r['input']:>5} {fmt(r['artlens_images_per_s']):>14} "
                  f"{fmt(r['pytorch_images_per_s']):>14} {fmt(r['ratio_median']):>6}  "
                  f"{' '.join(f'{x:.2f}' for x in r['ratios'])}")
            if "artlens_error" in r:
                print(f"  artlens error: {r['artlens_error']}")
    return 0 if all("artlens_error" not in r for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
