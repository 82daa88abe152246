#!/usr/bin/env python3
"""What `index --decode fast` does to embeddings, per backbone: cosine to the exact embedding and the
overlap of each work's 10 nearest neighbours with the exact path's, on photograph-like scans made
here (no downloads).

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    /opt/refenv/bin/python scripts/decode_fidelity.py --artlens target/debug/artlens \
        --model ID=DIR [--model ID=DIR ...] [--count 40] [--json]

Each `--model` is a backbone id and a checkpoint folder (e.g. random-init full-size checkpoints
written by `tests/fixtures/make_zoo_fixtures.py --full DIR` or `tests/fixtures/hf/make_hf_fixtures.py
--full DIR`: the real architectures and preprocessing, with random weights, since the real weights
cannot be downloaded here). The collection (made once into target/decode-fidelity/) is `--count`
pictures from `scripts/bench_decode.py`'s generator (soft gradients and blobs, hard edges, fine
texture, sensor noise), half 3 MP (2048x1536) and half 12 MP (4000x3000), a quarter of them portrait,
JPEG quality 90, 4:2:0. For each backbone the collection is indexed twice, into two stores, with
`--decode exact` and `--decode fast`; both are exported (`export --format npy`) and compared row by
row (matched by content hash):

* cosine: fast vs exact embedding of the same work (min, median);
* overlap@10: |N10_fast(w) ∩ N10_exact(w)| / 10, where N10 is the work's 10 nearest other works by
  cosine within the same store (mean, min);
* the wall time of each index run (model included).

Random weights are not trained ones: a trained network's invariance to resampling detail differs,
so these figures measure the pipeline's change, not a guarantee for every checkpoint.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "target" / "decode-fidelity"


def bench_decode():
    spec = importlib.util.spec_from_file_location("bench_decode", REPO / "scripts" / "bench_decode.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_collection(count: int) -> Path:
    col = OUT / f"collection-{count}"
    if col.is_dir() and len(list(col.glob("*.jpg"))) == count:
        return col
    shutil.rmtree(col, ignore_errors=True)
    col.mkdir(parents=True)
    gen = bench_decode().photo_like
    for i in range(count):
        w, h = (2048, 1536) if i % 2 == 0 else (4000, 3000)
        if i % 4 == 3:
            w, h = h, w
        Image.fromarray(gen(w, h, 1000 + i), "RGB").save(col / f"work-{i:03}.jpg", quality=90,
                                                         subsampling=2)
        print(f"  wrote work-{i:03}.jpg ({w}x{h})", file=sys.stderr)
    return col


def read_npy_export(folder: Path) -> dict[str, np.ndarray]:
    emb = np.load(folder / "embeddings.npy")
    hashes = [line.split(",")[1] for line in (folder / "items.csv").read_text().splitlines()[1:]]
    return dict(zip(hashes, emb))


def index_and_export(artlens: str, model: str, weights: str, col: Path, mode: str, tmp: Path):
    store = tmp / f"store-{mode}"
    t = time.perf_counter()
    subprocess.run([artlens, "index", "--store", str(store), "--models", model, "--weights",
                    f"{model}={weights}", "--decode", mode, "--json", str(col)], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t
    out = tmp / f"export-{mode}"
    subprocess.run([artlens, "export", "--store", str(store), "--model", model, "--format", "npy",
                    str(out)], check=True, stdout=subprocess.DEVNULL)
    return read_npy_export(out), seconds


def knn(mat: np.ndarray, k: int) -> np.ndarray:
    unit = mat / np.linalg.norm(mat, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1)[:, :k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artlens", default=str(REPO / "target" / "debug" / "artlens"))
    ap.add_argument("--model", action="append", required=True, metavar="ID=DIR")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    col = make_collection(args.count)
    rows = []
    for spec in args.model:
        model, weights = spec.split("=", 1)
        with tempfile.TemporaryDirectory() as tmp:
            exact, t_exact = index_and_export(args.artlens, model, weights, col, "exact", Path(tmp))
            fast, t_fast = index_and_export(args.artlens, model, weights, col, "fast", Path(tmp))
        keys = sorted(exact)
        a = np.stack([exact[h] for h in keys]).astype(np.float64)
        b = np.stack([fast[h] for h in keys]).astype(np.float64)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        k = min(10, len(keys) - 1)
        na, nb = knn(a, k), knn(b, k)
        overlap = np.array([len(set(x) & set(y)) / k for x, y in zip(na, nb)])
        row = {"model": model, "works": len(keys), "cos_min": float(cos.min()),
               "cos_median": float(np.median(cos)), "overlap10_mean": float(overlap.mean()),
               "overlap10_min": float(overlap.min()), "index_s_exact": t_exact, "index_s_fast": t_fast}
        rows.append(row)
        print(f"  {model}: done", file=sys.stderr)
    if args.json:
        print(json.dumps({"count": args.count, "rows": rows}, indent=1))
        return
    print(f"{args.count} works (half 3 MP, half 12 MP), random-init checkpoints")
    print(f"{'backbone':24} {'cos min':>9} {'cos med':>9} {'overlap@10':>10} {'min':>5} "
          f"{'index exact':>11} {'fast':>7}")
    for r in rows:
        print(f"{r['model']:24} {r['cos_min']:9.6f} {r['cos_median']:9.6f} {r['overlap10_mean']:10.3f} "
              f"{r['overlap10_min']:5.2f} {r['index_s_exact']:10.1f}s {r['index_s_fast']:6.1f}s")


if __name__ == "__main__":
    main()
