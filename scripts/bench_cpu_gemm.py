#!/usr/bin/env python3
"""The CPU GEMM paths and bf16 on CPU, model only: images/s and fidelity.

Usage (from the repository root, after building artlens):

    /opt/refenv/bin/python scripts/bench_cpu_gemm.py [--artlens target/release/artlens]
        [--weights-dir target/bench-weights] [--rounds 3] [--iters 3] [--models dino,dinov2@224]

Speed: `artlens bench --batch-size 8` per model, in alternating rounds, on each
CPU GEMM path (`ARTLENS_BLAS=artlens|openblas|gemm`, f32) and with
`--precision bf16` (where the CPU has AVX512_BF16), with PyTorch eager (the
reference library: transformers for DINO, timm for DINOv2, on the same random
weights, same threads, batch 8) in the same rounds; prints images/s per
round and the median ratio of each path to artlens's default f32.

Fidelity of bf16: embeds the images given by --images (default
data/collection) with f32 and bf16 and prints the cosine of each image's bf16
embedding to its f32 one (min, median) and the overlap of each image's 10
nearest neighbours (cosine) between the two.

The weights are full-size random checkpoints of the hub layouts
(`tests/fixtures/make_fixtures.py --full DIR`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def bench(artlens: str, model: str, weights: Path, iters: int, env: dict, precision: str) -> float:
    name, _, size = model.partition("@")
    cmd = [artlens, "--quiet", "bench", "--model", name, "--weights", str(weights / name),
           "--batch-size", "8", "--iters", str(iters), "--json", "--precision", precision]
    if size:
        cmd += ["--image-size", size]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"]


def torch_model(model: str, weights: Path, threads: int):
    import torch
    torch.set_num_threads(threads)
    name, _, size = model.partition("@")
    if name == "dino":
        from transformers import ViTModel
        m = ViTModel.from_pretrained(str(weights / "dino"), add_pooling_layer=False).eval()
        s = int(size or 224)
        return m, torch.randn(8, 3, s, s), lambda m, x: m(pixel_values=x).last_hidden_state[:, 0]
    import timm
    s = int(size or 518)
    m = timm.create_model(f"local-dir:{weights / 'dinov2'}", pretrained=True, img_size=s)
    return m.eval(), torch.randn(8, 3, s, s), lambda m, x: m(x)


def torch_ips(handle, iters: int) -> float:
    import torch
    m, x, f = handle
    with torch.inference_mode():
        f(m, x)
        t = time.perf_counter()
        for _ in range(iters):
            f(m, x)
        return 8 * iters / (time.perf_counter() - t)


def embed(artlens: str, model: str, weights: Path, images: list[str], precision: str) -> np.ndarray:
    name, _, size = model.partition("@")
    cmd = [artlens, "--quiet", "embed", "--model", name, "--weights", str(weights / name), "--json",
           "--precision", precision]
    if size:
        cmd += ["--image-size", size]
    out = subprocess.run(cmd + images, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}: {out.stderr.strip()}")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    by_path = {r["path"]: np.asarray(r["embedding"], dtype=np.float64) for r in rows}
    return np.stack([by_path[p] for p in images])


def fidelity(a: np.ndarray, b: np.ndarray, k: int = 10) -> tuple[float, float, float]:
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = (an * bn).sum(1)
    overlaps = []
    for sims in (an @ an.T, bn @ bn.T):
        np.fill_diagonal(sims, -np.inf)
        overlaps.append(np.argsort(-sims, axis=1)[:, :k])
    ov = [len(set(x) & set(y)) / k for x, y in zip(*overlaps)]
    return float(cos.min()), float(np.median(cos)), float(np.mean(ov))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artlens", default=str(REPO / "target/release/artlens"))
    ap.add_argument("--weights-dir", type=Path, default=REPO / "target/bench-weights")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--models", default="dino,dinov2@224")
    ap.add_argument("--images", type=Path, default=REPO / "data/collection")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    paths = [("artlens", "f32"), ("openblas", "f32"), ("gemm", "f32"), ("artlens", "bf16")]
    for model in args.models.split(","):
        handle = None if args.no_torch else torch_model(model, args.weights_dir, threads)
        rates: dict[str, list[float]] = {}
        for r in range(args.rounds):
            line = []
            for blas, precision in paths:
                env = dict(os.environ, ARTLENS_BLAS=blas)
                key = f"{blas}/{precision}"
                try:
                    ips = bench(args.artlens, model, args.weights_dir, args.iters, env, precision)
                except SystemExit as e:
                    if precision == "bf16":
                        print(f"  bf16 skipped: {e}", file=sys.stderr)
                        continue
                    raise
                rates.setdefault(key, []).append(ips)
                line.append(f"{key} {ips:.2f}")
            if handle is not None:
                ips = torch_ips(handle, args.iters)
                rates.setdefault("pytorch", []).append(ips)
                line.append(f"pytorch {ips:.2f}")
            print(f"{model} round {r}: " + ", ".join(line) + "  images/s", flush=True)
        base = rates["artlens/f32"]
        for key, v in rates.items():
            ratios = [x / y for x, y in zip(v, base)]
            print(f"  {model} {key}: median {statistics.median(v):.2f} images/s, "
                  f"{statistics.median(ratios):.2f}× artlens f32 (rounds {', '.join(f'{x:.2f}' for x in ratios)})")
        if "artlens/bf16" in rates:
            images = sorted(str(p) for p in args.images.rglob("*")
                            if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            a = embed(args.artlens, model, args.weights_dir, images, "f32")
            b = embed(args.artlens, model, args.weights_dir, images, "bf16")
            cmin, cmed, ov = fidelity(a, b)
            print(f"  {model} bf16 vs f32 over {len(images)} images: cosine min {cmin:.5f}, "
                  f"median {cmed:.5f}; 10-NN overlap {ov:.3f}")


if __name__ == "__main__":
    main()
