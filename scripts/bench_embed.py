#!/usr/bin/env python3
"""Benchmark: artlens vs the PyTorch reference models, same weights, same images, same threads.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    cargo build --release
    .venv/bin/python scripts/bench_embed.py [--mode model|e2e|both] [--models dino dinov2 dinov2@224]
        [--weights-dir DIR] [--batch-size 8] [--iters 3] [--images 48] [--rounds 3]
        [--threads N] [--artlens target/release/artlens] [--device cpu|cuda:0] [--json]
        [--peers pytorch ort] [--blas artlens openblas]

Two measurements, each alternating artlens and its peers `--rounds` times in one run (this
machine's speed drifts by ±25% between minutes, so only alternating rounds compare fairly),
reporting each side's median and the median of the per-round ratios. The peers are PyTorch eager
and ONNX Runtime (`--peers`, default both on CPU): the same PyTorch model exported once to ONNX
(`torch.onnx.export`, opset 17, batch axis dynamic; cached in DIR/onnx/), run by onnxruntime's
default CPU execution provider with `intra_op_num_threads = --threads` and all graph
optimisations, fed by the same Pillow preprocessing as the PyTorch side. `--blas artlens
openblas` runs artlens once per GEMM path in every round (`ARTLENS_BLAS=...`: its own kernel, the
default, and the system OpenBLAS), each against both peers:

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

* ort (model only and e2e): as PyTorch, with the forward pass an `InferenceSession.run` on the
  exported model (its output checked against PyTorch's once, before timing).

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


def onnx_path(spec: str, d: Path) -> Path:
    """The exported model for `spec`, made once from the PyTorch model (batch axis dynamic)."""
    import torch

    ckpt, size = SPECS[spec]
    out = d / "onnx" / f"{ckpt}_{size}.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    model, _, fwd, s = load_torch_model(spec, d, "cpu")

    class Forward(torch.nn.Module):
        """The embedding the benchmark times (CLS token / pooled output), as one module."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return fwd(x)

    x = torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    print(f"exporting {spec} to {out} ...", file=sys.stderr)
    tmp = out.with_suffix(".tmp.onnx")
    with torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter: the dynamo one needs onnxscript, which the reference
        # environment does not have. Weights inside the file (~350 MB, under protobuf's 2 GB).
        torch.onnx.export(Forward().eval(), (x,), str(tmp), dynamo=False, opset_version=17,
                          input_names=["pixel_values"], output_names=["embedding"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "embedding": {0: "batch"}})
    tmp.rename(out)
    return out


def ort_session(spec: str, d: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_path(spec, d)), so, providers=["CPUExecutionProvider"])


def check_ort(spec: str, d: Path, threads: int) -> str:
    """ORT's embedding of a random batch against PyTorch's: the export computes the same model."""
    import numpy as np
    import torch

    sess = ort_session(spec, d, threads)
    torch.set_num_threads(threads)
    model, _, fwd, s = load_torch_model(spec, d, "cpu")
    x = torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = fwd(x).numpy()
    got = sess.run(None, {"pixel_values": x.numpy()})[0]
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    if got.shape != want.shape or cos.min() < 0.9999:
        sys.exit(f"error: ONNX Runtime's {spec} output differs from PyTorch's (cosine {cos})")
    return f"ONNX Runtime {spec}: cosine to PyTorch {cos.min():.6f}"


def bench_ort_model(spec: str, d: Path, batch: int, iters: int, threads: int) -> dict:
    import numpy as np

    sess = ort_session(spec, d, threads)
    s = SPECS[spec][1]
    x = np.random.default_rng(0).standard_normal((batch, 3, s, s), dtype=np.float32)
    out = sess.run(None, {"pixel_values": x})[0]  # warm-up
    assert out.shape == (batch, 768), out.shape
    t0 = time.perf_counter()
    for _ in range(iters):
        sess.run(None, {"pixel_values": x})
    secs = time.perf_counter() - t0
    return {"images_per_s": batch * iters / secs, "seconds": secs}


def bench_ort_e2e(spec: str, d: Path, files: list[Path], batch: int, threads: int) -> dict:
    import torch
    from PIL import Image

    # The same Pillow preprocessing as the PyTorch side; torch only for the transforms.
    torch.set_num_threads(threads)
    model, pre, _, _ = load_torch_model(spec, d, "cpu")
    del model
    sess = ort_session(spec, d, threads)
    marks = []
    for i in range(0, len(files), batch):
        imgs = [Image.open(p).convert("RGB") for p in files[i:i + batch]]
        x = pre(imgs).numpy()
        out = sess.run(None, {"pixel_values": x})[0]
        assert out.shape[0] == len(imgs)
        marks.append((i + len(imgs), time.perf_counter()))
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


def blas_env(blas: str | None) -> dict:
    env = dict(os.environ)
    if blas:
        env["ARTLENS_BLAS"] = blas
    return env


def bench_artlens_model(exe: Path, spec: str, d: Path, batch: int, iters: int, threads: int, device: str,
                        blas: str | None = None) -> dict:
    pre, model = artlens_cmd(exe, spec, d, threads, device)
    cmd = pre + ["bench"] + model + ["--batch-size", str(batch), "--iters", str(iters), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=blas_env(blas))
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
                      device: str, blas: str | None = None) -> dict:
    pre, model = artlens_cmd(exe, spec, d, threads, device)

    def run(fs: list[Path]) -> float | str:
        cmd = pre + ["embed"] + model + ["--batch-size", str(batch), "--json"] + [str(f) for f in fs]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=blas_env(blas))
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
                    help="alternate artlens and its peers this many times; medians and the median ratios")
    ap.add_argument("--peers", nargs="+", choices=["pytorch", "ort"], default=None,
                    help="peers in each round (default: pytorch and ort on CPU, pytorch elsewhere)")
    ap.add_argument("--blas", nargs="+", choices=["default", "artlens", "openblas", "gemm"], default=["default"],
                    help="artlens's GEMM path(s), each run in every round (ARTLENS_BLAS; default: unset)")
    args = ap.parse_args()

    d = args.weights_dir.resolve()
    ensure_weights(d)
    if not args.artlens.is_file():
        sys.exit(f"error: {args.artlens} not found (cargo build --release)")
    peers = args.peers or (["pytorch", "ort"] if args.device == "cpu" else ["pytorch"])
    if "ort" in peers and args.device != "cpu":
        sys.exit("error: --peers ort runs on the CPU only (--device cpu)")
    modes = {"both": ["model", "e2e"], "all": ["model", "e2e", "preprocess"]}.get(args.mode, [args.mode])
    files = ensure_images(args.images) if {"e2e", "preprocess"} & set(modes) else []
    if "ort" in peers:
        for m in args.models:
            print(check_ort(m, d, args.threads), file=sys.stderr)
    # One artlens run per GEMM path asked for; "artlens" names the default when it is the only one.
    variants = [("artlens" if b == "default" else f"artlens[{b}]", None if b == "default" else b)
                for b in args.blas]

    rows = []
    for mode in modes:
        row_peers = ["pytorch"] if mode == "preprocess" else peers
        row_variants = variants[:1] if mode == "preprocess" else variants
        for m in args.models:
            row = {"mode": mode, "model": m, "input": SPECS[m][1], "batch_size": args.batch_size,
                   "threads": args.threads, "device": args.device,
                   "runs": {name: [] for name, _ in row_variants} | {p: [] for p in row_peers}}
            for r in range(max(1, args.rounds)):
                print(f"{mode} {m}: round {r + 1}/{args.rounds}", file=sys.stderr)
                got = {}
                for name, blas in row_variants:
                    if mode == "preprocess":
                        # Lower is better here: the "images/s" columns hold 1000 / ms.
                        a = bench_artlens_preprocess(m, d, files)
                        if "error" not in a:
                            a = {"images_per_s": 1e3 / a["ms_per_image"]}
                    elif mode == "model":
                        a = bench_artlens_model(args.artlens, m, d, args.batch_size, args.iters, args.threads,
                                                args.device, blas)
                    else:
                        a = bench_artlens_e2e(args.artlens, m, d, files, args.batch_size, args.threads,
                                              args.device, blas)
                    if "error" in a:
                        row["artlens_error"] = f"{name}: {a['error']}"
                        break
                    got[name] = a["images_per_s"]
                if "artlens_error" in row:
                    break
                for p in row_peers:
                    if mode == "preprocess":
                        t = {"images_per_s": 1e3 / bench_torch_preprocess(m, d, files)["ms_per_image"]}
                    elif p == "pytorch":
                        t = (bench_torch_model(m, d, args.batch_size, args.iters, args.threads, args.device)
                             if mode == "model" else
                             bench_torch_e2e(m, d, files, args.batch_size, args.threads, args.device))
                    else:
                        t = (bench_ort_model(m, d, args.batch_size, args.iters, args.threads)
                             if mode == "model" else bench_ort_e2e(m, d, files, args.batch_size, args.threads))
                    got[p] = t["images_per_s"]
                for k, v in got.items():
                    row["runs"][k].append(v)
                print(f"{mode} {m} round {r + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in got.items())
                      + " images/s", file=sys.stderr)
            row["images_per_s"] = {k: median(v) for k, v in row["runs"].items()}
            # Each artlens path against each peer, round by round (> 1: artlens faster).
            row["ratios"] = {f"{name}/{p}": [a / t for a, t in zip(row["runs"][name], row["runs"][p])]
                             for name, _ in row_variants for p in row_peers}
            row["ratio_medians"] = {k: median(v) for k, v in row["ratios"].items()}
            # The keys of the earlier, PyTorch-only output, for scripts that read them.
            first = row_variants[0][0]
            row["artlens_runs"], row["pytorch_runs"] = row["runs"][first], row["runs"].get("pytorch", [])
            row["ratio_median"] = row["ratio_medians"].get(f"{first}/pytorch")
            rows.append(row)

    if args.json:
        print(json.dumps({"weights_dir": str(d), "rows": rows}, indent=1))
    else:
        fmt = lambda v, p=2: "n/a" if v is None else f"{v:.{p}f}"
        print(f"threads {args.threads}, batch {args.batch_size}, device {args.device}, "
              f"{args.rounds} alternating round(s); e2e over {args.images} JPEGs (marginal rate); "
              f"preprocess: one thread, images/s = 1000 / ms per image; ratio > 1: artlens faster")
        for r in rows:
            rates = "  ".join(f"{k} {fmt(v)}" for k, v in r["images_per_s"].items())
            print(f"{r['mode']} {r['model']}@{r['input']}: images/s (median) {rates}")
            for k, v in r["ratios"].items():
                print(f"    {k:<28} median {fmt(r['ratio_medians'][k])}  rounds "
                      f"{' '.join(f'{x:.2f}' for x in v)}")
            if "artlens_error" in r:
                print(f"  artlens error: {r['artlens_error']}")
    return 0 if all("artlens_error" not in r for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
