#!/usr/bin/env python3
"""Benchmark: artlens forward throughput vs the PyTorch reference models, same weights, same input size.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    cargo build --release
    /opt/refenv/bin/python scripts/bench_embed.py [--weights-dir DIR] [--batch-size 8] [--iters 5]
        [--threads N] [--artlens target/release/artlens] [--models dino dinov2] [--device cpu|cuda:0] [--json]

DIR (default target/bench-weights) must hold full-size checkpoints (DIR/dino: transformers ViTModel
ViT-B/16; DIR/dinov2: timm ViT-B/14 at 518); when they are missing, `tests/fixtures/make_fixtures.py
--full DIR` writes random ones first (a few minutes, ~700 MB).

PyTorch side: transformers `ViTModel.from_pretrained(DIR/dino, add_pooling_layer=False)` (default
attention implementation) and `timm.create_model("local-dir:DIR/dinov2", pretrained=True)`, with
`torch.set_num_threads(threads)`, a random [B,3,224,224] / [B,3,518,518] batch, one warm-up and
`iters` timed forwards under `torch.inference_mode()`.
artlens side: `ARTLENS --quiet bench --model M --weights DIR/M --batch-size B --iters N --threads T --json`,
which prints one JSON line ({"model", "batch_size", "iters", "images_per_s", "seconds", ...}).

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
INPUT = {"dino": 224, "dinov2": 518}


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


def bench_torch(model_name: str, d: Path, batch: int, iters: int, threads: int, device: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    dev = torch.device(device)
    if model_name == "dino":
        import transformers
        from transformers import ViTModel
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        model = ViTModel.from_pretrained(str(d / "dino"), add_pooling_layer=False)
        fwd = lambda x: model(pixel_values=x).last_hidden_state[:, 0]
    else:
        import timm
        model = timm.create_model(f"local-dir:{d / 'dinov2'}", pretrained=True)
        fwd = lambda x: model(x)
    model = model.eval().float().to(dev)
    s = INPUT[model_name]
    x = torch.randn(batch, 3, s, s, generator=torch.Generator().manual_seed(0)).to(dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    with torch.inference_mode():
        out = fwd(x)  # warm-up
        sync()
        assert out.shape == (batch, 768), out.shape
        t0 = time.perf_counter()
        for _ in range(iters):
            fwd(x)
        sync()
        secs = time.perf_counter() - t0
    del model
    return {"images_per_s": batch * iters / secs, "seconds": secs}


def bench_artlens(exe: Path, model: str, d: Path, batch: int, iters: int, threads: int, device: str) -> dict:
    cmd = [str(exe), "--quiet", "bench", "--model", model, "--weights", str(d / model), "--batch-size", str(batch),
           "--iters", str(iters), "--threads", str(threads), "--json"]
    if device != "cpu":
        cmd += ["--device", device]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights-dir", type=Path, default=REPO / "target" / "bench-weights")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--artlens", type=Path, default=REPO / "target" / "release" / "artlens")
    ap.add_argument("--models", nargs="+", choices=["dino", "dinov2"], default=["dino", "dinov2"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both sides)")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate artlens and PyTorch this many times and report each side's median "
                         "(a shared 2-core machine drifts by ±15%% between runs)")
    args = ap.parse_args()

    d = args.weights_dir.resolve()
    ensure_weights(d)
    have_artlens = args.artlens.is_file()
    if not have_artlens:
        print(f"warning: {args.artlens} not found (cargo build --release); PyTorch only", file=sys.stderr)

    rows = []
    for m in args.models:
        row = {"model": m, "input": INPUT[m], "batch_size": args.batch_size, "iters": args.iters,
               "threads": args.threads, "device": args.device}
        a_runs, t_runs = [], []
        for _ in range(max(1, args.rounds)):
            if have_artlens:
                a = bench_artlens(args.artlens, m, d, args.batch_size, args.iters, args.threads, args.device)
                if "error" in a:
                    row["artlens_error"] = a["error"]
                else:
                    a_runs.append(a["images_per_s"])
                if a.get("threads") is not None:
                    row["artlens_threads_reported"] = a["threads"]
            t = bench_torch(m, d, args.batch_size, args.iters, args.threads, args.device)
            t_runs.append(t["images_per_s"])
        med = lambda v: sorted(v)[len(v) // 2] if v else None
        row["artlens_images_per_s"] = med(a_runs)
        row["artlens_runs"] = a_runs
        row["pytorch_images_per_s"] = med(t_runs)
        row["pytorch_runs"] = t_runs
        a_ips = row.get("artlens_images_per_s")
        row["ratio_artlens_over_pytorch"] = (a_ips / row["pytorch_images_per_s"]) if a_ips else None
        rows.append(row)

    if args.json:
        print(json.dumps({"weights_dir": str(d), "rows": rows}, indent=1))
    else:
        fmt = lambda v, p=2: "n/a" if v is None else f"{v:.{p}f}"
        print(f"{'model':<8} {'input':>5} {'artlens img/s':>14} {'PyTorch img/s':>14} {'ratio':>7}  "
              f"{'threads':>7} {'batch':>5} {'iters':>5}  device")
        for r in rows:
            print(f"{r['model']:<8} {r['input']:>5} {fmt(r['artlens_images_per_s']):>14} "
                  f"{fmt(r['pytorch_images_per_s']):>14} {fmt(r['ratio_artlens_over_pytorch'], 3):>7}  "
                  f"{r['threads']:>7} {r['batch_size']:>5} {r['iters']:>5}  {r['device']}")
            if "artlens_error" in r:
                print(f"  artlens error: {r['artlens_error']}")
    return 0 if all("artlens_error" not in r for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
