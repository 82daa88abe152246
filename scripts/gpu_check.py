#!/usr/bin/env python3
"""Prove artlens' GPU path in one short run: parity, model-only throughput and `index` speed.

Made for a machine with an NVIDIA GPU, its CUDA libraries, PyTorch, timm and transformers, but no
Rust toolchain and no network: it takes a prebuilt CUDA binary of artlens and writes everything else
itself. Normally started through scripts/gpu_check.sh, which puts the CUDA libraries of the PyTorch
environment on LD_LIBRARY_PATH (see there for how to build and ship the binary).

Usage (from the repository root):

    python3 scripts/gpu_check.py [--artlens gpu-bin/artlens] [--device cuda|cuda:N|cpu] [--quick]
        [--threads N] [--work /tmp/gpu-check] [--out DIR] [--budget-s 540] [--bench-seconds 4]
        [--phases parity,throughput,index,feed]

    # CPU smoke test of the script itself (small counts, 1 thread, bf16 reported as unavailable):
    python3 scripts/gpu_check.py --artlens target/release/artlens --device cpu --quick --threads 1

Phases, in this order, each timed and given a share of --budget-s (a phase out of time records what it
has and the next one starts; every subprocess gets a timeout):

  images       16 PNGs of varied sizes and colour modes for parity (the 9 PNGs of
               tests/fixtures/make_fixtures.py plus 7 synthetic ones), and 2,000 distinct 640x480 JPEGs
               (quality 90) for `index`, written in parallel on all cores, plus a folder with the first
               100 of them. Deterministic.
  checkpoints  Full-size random checkpoints with make_fixtures.py's own writers and seeds (the same
               weights as `make_fixtures.py --full`): WORK/dino (transformers ViTModel ViT-B/16) and
               WORK/dinov2 (timm ViT-B/14 at 518). Kept and reused by a later run on the same machine.
  parity       For dino (224), dinov2 (518) and dinov2@224: the PyTorch reference in f32 on the device
               with TF32 off (transformers ViTModel with eager attention, embedding = CLS of
               last_hidden_state; timm create_model("local-dir:...") [img_size=224], num_classes=0), on
               the Pillow-exact preprocessing of make_fixtures.py; then `artlens embed` in f32 and with
               `--precision bf16`, both compared with the f32 reference; and PyTorch in bf16
               (model.to(torch.bfloat16)) against the same reference, for context only.
  throughput   Model-only images/s on random input: `artlens bench` against a PyTorch eager loop
               (input already on the device, warm-up, inference_mode, torch.cuda.synchronize) at
               f32 with TF32 off, f32 with PyTorch's default TF32 flags (as found at start; recorded),
               and bf16. Batch 64 for dino and dinov2@224, 32 for dinov2 at 518; the iteration count
               is set so that each measurement takes about --bench-seconds (artlens' from PyTorch's
               speed at the same precision). `artlens bench` uploads its f32 input from host memory and
               downloads the embeddings on every iteration, so bf16 is also timed in PyTorch that way
               ("incl. upload"), for context.
  feed         Is the GPU fed? The decode pool alone (`artlens bench --decode`: decode, EXIF orientation
               and dino@224's preprocessing on every core, no model) over the 640x480 JPEGs and over
               64 JPEGs of 3 MP (2048x1536, the size of a modest scan), against the model-only speed
               measured in the throughput phase (bf16 where it ran, else f32): the ratio decode/model,
               and how many cores would feed the model at that speed.
  index        `artlens index` of the JPEGs with dino (224), batch 64, decoding on all cores, in bf16 and
               f32, each into a fresh store, timed by wall clock; a run over the 100-image subset is
               subtracted to give the marginal images/s without process start and model load.

Bounds (exit status 1 when one fails, or when on a GPU a bound could not be checked):
  f32  artlens vs PyTorch f32, every image: cosine >= 0.9999
  bf16 artlens vs PyTorch f32, every image: cosine >= 0.999
Aims (reported, judged for an H200; they do not change the exit status):
  model-only bf16: artlens >= 1.0x PyTorch eager, every model
  index dino@224 bf16: marginal >= 2,000 images/s

Output: progress with timestamps on stderr (and OUT/gpu_check.log), a table on stdout, and
OUT/gpu_check.json, rewritten after every phase so that a run cut short still leaves its figures.
OUT is --out, else $OUT, else target/gpu-check. Exit status: 0 parity passed, 1 a parity bound failed
or could not be checked, 2 the check could not start (no artlens binary, bad arguments).

--quick shrinks every count for a smoke test (4 PNGs, 40 JPEGs with a subset of 10, one timed bench
iteration); with --device cpu every batch is 2 and the bf16 and TF32 measurements are skipped where
they mean nothing (artlens refuses bf16 on the CPU: that is reported as unavailable, not as a crash).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

F32_MIN_COS = 0.9999
BF16_MIN_COS = 0.999
AIM_MODEL_RATIO = 1.0
AIM_INDEX_IPS = 2000.0

# artlens id -> (checkpoint folder under WORK, square input size)
MODELS = {"dino": ("dino", 224), "dinov2": ("dinov2", 518), "dinov2@224": ("dinov2", 224)}
FULL_DIMS = {"hidden": 768, "depth": 12, "heads": 12, "mlp": 3072}
# make_fixtures.py's --full seeds, so the weights are those of target/bench-weights on a developer machine.
DINO_SEED_OFFSET, DINOV2_SEED_OFFSET = 100, 200
FIXTURE_PNG_STEMS = ["landscape", "portrait", "small", "square224", "tall518", "gray", "palette", "rgba", "la"]
# (width, height) of the synthetic PNGs: both orientations, odd sizes, exactly 224 and 518, large.
SYNTHETIC_PNG_SIZES = [(640, 480), (480, 640), (1024, 768), (517, 333), (518, 518), (224, 224), (300, 1000)]
JPEG_SIZE = (640, 480)
JPEG_SEED = 7_000_000
# The scans art collections hold are larger than web images: the feed phase also times 3 MP JPEGs.
SCAN_JPEG_SIZE = (2048, 1536)
PHASES = ["parity", "throughput", "index", "feed"]
# Share of --budget-s each phase may use (they overlap: the run as a whole also stops at the budget).
PHASE_SHARE = {"images": 0.10, "checkpoints": 0.15, "parity": 0.35, "throughput": 0.40, "index": 0.25,
               "feed": 0.10}


@dataclass
class Settings:
    device: str
    quick: bool
    threads: int | None
    n_png: int
    n_jpeg: int
    n_subset: int
    embed_batch: int
    bench_batch: dict
    bench_seconds: float
    bench_fixed_iters: int | None
    bench_call_cap_s: float | None
    index_batch: int
    decode_threads: int

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def make_settings(args) -> Settings:
    cuda = args.device.startswith("cuda")
    cores = args.threads or os.cpu_count() or 1
    small = not cuda  # a ViT-B forward on a CPU takes seconds: batches of 2 keep the smoke test short
    return Settings(
        device=args.device, quick=args.quick, threads=args.threads,
        n_png=4 if args.quick else 16,
        n_jpeg=40 if args.quick else 2000,
        n_subset=10 if args.quick else 100,
        embed_batch=2 if small else 8,
        bench_batch={m: 2 for m in MODELS} if small else {"dino": 64, "dinov2@224": 64, "dinov2": 32},
        bench_seconds=args.bench_seconds,
        bench_fixed_iters=1 if args.quick else None,
        # an artlens bench far slower than PyTorch must not eat the phase: cap each call (not in --quick,
        # whose single iteration on a busy CPU can take long and is bounded by the phase anyway)
        bench_call_cap_s=None if args.quick else 30 + 6 * args.bench_seconds,
        index_batch=2 if small else 64,
        decode_threads=cores,
    )


# --------------------------------------------------------------------------------------------
# progress, time and results
# --------------------------------------------------------------------------------------------

class Log:
    """Timestamped progress lines on stderr and in OUT/gpu_check.log (output_tail of a remote run is short)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.file = None

    def open(self, path: Path):
        self.file = open(path, "w", buffering=1)

    def __call__(self, msg: str):
        line = f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.t0:6.1f}s] {msg}"
        print(line, file=sys.stderr, flush=True)
        if self.file:
            self.file.write(line + "\n")


log = Log()


class OutOfTime(Exception):
    pass


class ArtlensFailed(Exception):
    pass


def time_left(deadline: float) -> float:
    return deadline - time.monotonic()


class Results:
    """Everything measured, rewritten to OUT/gpu_check.json after each phase (atomically)."""

    def __init__(self, path: Path, header: dict):
        self.path = path
        self.data = {**header, "phases": {}, "parity": [], "throughput": [], "index": [], "feed": [],
                     "verdict": {}}

    def save(self):
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        os.replace(tmp, self.path)


def run_phase(results: Results, name: str, deadline: float, fn) -> bool:
    """Runs one phase, records its time and outcome (ok / out of time / error), saves the results."""
    t0 = time.monotonic()
    log(f"phase {name}: start ({time_left(deadline):.0f} s allowed)")
    rec = {"status": "ok"}
    try:
        fn(deadline)
    except OutOfTime as e:
        rec = {"status": "out of time", "detail": str(e)}
    except Exception as e:  # a phase that breaks must not cost the figures of the others
        rec = {"status": "error", "detail": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    rec["seconds"] = round(time.monotonic() - t0, 2)
    results.data["phases"][name] = rec
    results.save()
    log(f"phase {name}: {rec['status']} after {rec['seconds']:.1f} s" + (f" ({rec['detail']})" if "detail" in rec else ""))
    return rec["status"] == "ok"


# --------------------------------------------------------------------------------------------
# artlens
# --------------------------------------------------------------------------------------------

@dataclass
class Artlens:
    exe: Path
    device: str
    threads: int | None

    def run(self, args: list[str], deadline: float, cap_s: float | None = None
            ) -> tuple[subprocess.CompletedProcess, float]:
        """Runs artlens until the phase's deadline (OutOfTime) or for at most cap_s (ArtlensFailed)."""
        cmd = [str(self.exe), "--quiet", *map(str, args)]
        left = time_left(deadline)
        if left < 1:
            raise OutOfTime(f"no time left for: {' '.join(cmd[2:8])} ...")
        timeout = min(left, cap_s or left)
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            msg = f"killed after {timeout:.0f} s: {' '.join(cmd[2:8])} ..."
            raise (ArtlensFailed(msg) if timeout < left else OutOfTime(msg)) from None
        return r, time.perf_counter() - t0

    def common(self, precision: str) -> list[str]:
        """--device, --precision (only when not f32: a binary without the flag still runs f32), --threads."""
        out = ["--device", self.device]
        if precision != "f32":
            out += ["--precision", precision]
        if self.threads:
            out += ["--threads", self.threads]
        return out


def unavailable(r: subprocess.CompletedProcess, precision: str) -> str | None:
    """Why artlens cannot run `precision` here, when that is what its error says: a binary from before
    `--precision` rejects the flag (clap: "unexpected argument '--precision'"), and bf16 is CUDA-only."""
    if precision == "f32" or r.returncode == 0:
        return None
    err = r.stderr.strip()
    if re.search(r"precision|bf16", err, re.IGNORECASE):
        return err.splitlines()[0][:300] if err else "refused"
    return None


def failure(r: subprocess.CompletedProcess, what: str) -> ArtlensFailed:
    return ArtlensFailed(f"{what}: exit {r.returncode}: {r.stderr.strip()[-800:]}")


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(l) for l in stdout.splitlines() if l.strip().startswith("{")]


# --------------------------------------------------------------------------------------------
# phase: images
# --------------------------------------------------------------------------------------------

def synthetic_rgb(seed: int, w: int, h: int) -> np.ndarray:
    """Gradients, soft waves, hard-edged rectangles and sensor-like noise: content that resizes and
    compresses like a photo, and differs for every seed (artlens stores each content once, so
    identical JPEGs would not be embedded twice)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / np.float32(max(w, h))
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        gx, gy, f, p = rng.uniform(-150, 150), rng.uniform(-150, 150), rng.uniform(3, 40), rng.uniform(0, 6.28)
        img[..., c] = 128 + gx * (x - 0.5) + gy * (y - 0.5) + 45 * np.sin(f * x + p) * np.cos(0.7 * f * y)
    for _ in range(5):
        x0, y0 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        img[y0:y0 + rng.integers(8, h // 3 + 9), x0:x0 + rng.integers(8, w // 3 + 9)] = rng.uniform(0, 255, 3)
    img += 6 * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _write_jpeg(job: tuple[int, str]) -> None:
    i, path = job
    Image.fromarray(synthetic_rgb(JPEG_SEED + i, *JPEG_SIZE)).save(path, format="JPEG", quality=90)


def write_jpegs(d: Path, n: int, processes: int) -> None:
    marker = d / f".complete-{n}-{JPEG_SIZE[0]}x{JPEG_SIZE[1]}"
    if marker.is_file():
        log(f"images: {n} JPEGs already in {d}")
        return
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    jobs = [(i, str(d / f"img{i:05d}.jpg")) for i in range(n)]
    # fork: the workers need only numpy and Pillow, and no CUDA context exists yet in this process.
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        pool.map(_write_jpeg, jobs, chunksize=max(1, n // (4 * processes)))
    marker.touch()


def _write_scan_jpeg(job: tuple[int, str]) -> None:
    i, path = job
    Image.fromarray(synthetic_rgb(JPEG_SEED + 500_000 + i, *SCAN_JPEG_SIZE)).save(path, format="JPEG", quality=90)


def write_scan_jpegs(d: Path, n: int, processes: int) -> None:
    marker = d / f".complete-{n}-{SCAN_JPEG_SIZE[0]}x{SCAN_JPEG_SIZE[1]}"
    if marker.is_file():
        return
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    jobs = [(i, str(d / f"scan{i:04d}.jpg")) for i in range(n)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_write_scan_jpeg, jobs, chunksize=1)
    marker.touch()


def link_subset(src: Path, dst: Path, n: int) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for p in sorted(src.glob("*.jpg"))[:n]:
        try:
            os.link(p, dst / p.name)
        except OSError:
            shutil.copy2(p, dst / p.name)


def phase_images(s: Settings, work: Path, state: dict, deadline: float) -> None:
    jpeg_dir, sub_dir = work / "jpeg", work / "jpeg-subset"
    t0 = time.perf_counter()
    write_jpegs(jpeg_dir, s.n_jpeg, s.decode_threads)
    link_subset(jpeg_dir, sub_dir, s.n_subset)
    write_scan_jpegs(work / "jpeg-3mp", 4 if s.quick else 64, s.decode_threads)
    state["scan_dir"] = work / "jpeg-3mp"
    log(f"images: {s.n_jpeg} JPEGs {JPEG_SIZE[0]}x{JPEG_SIZE[1]} in {time.perf_counter() - t0:.1f} s")

    import make_fixtures as mf  # imported after the fork above: it loads torch

    png_dir = work / "png"
    shutil.rmtree(png_dir, ignore_errors=True)
    stems = FIXTURE_PNG_STEMS[:s.n_png]
    fixture = mf.write_images(png_dir, stems)
    pngs = [fixture[stem] for stem in stems]
    for k, (w, h) in enumerate(SYNTHETIC_PNG_SIZES[:s.n_png - len(pngs)]):
        p = png_dir / f"synthetic{k}_{w}x{h}.png"
        Image.fromarray(synthetic_rgb(k, w, h)).save(p, format="PNG")
        pngs.append(p)
    state["pngs"] = [p.resolve() for p in pngs]
    state["jpeg_dir"], state["subset_dir"] = jpeg_dir, sub_dir
    log(f"images: {len(state['pngs'])} PNGs for parity in {png_dir}")


# --------------------------------------------------------------------------------------------
# phase: checkpoints
# --------------------------------------------------------------------------------------------

def checkpoint_present(d: Path, config_key: str) -> bool:
    try:
        cfg = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (d / "model.safetensors").is_file() and cfg.get(config_key) == FULL_DIMS["hidden"]


def phase_checkpoints(work: Path, deadline: float) -> None:
    import make_fixtures as mf

    # Written into a temporary folder and renamed, so that a run killed midway leaves no half checkpoint.
    for name, key, write in [
        ("dino", "hidden_size", lambda d: mf.write_dino([d], FULL_DIMS, mf.SEED + DINO_SEED_OFFSET, None)),
        ("dinov2", "num_features",
         lambda d: mf.write_dinov2(d, FULL_DIMS, mf.SEED + DINOV2_SEED_OFFSET, with_model_args=False)),
    ]:
        d = work / name
        if checkpoint_present(d, key):
            log(f"checkpoints: {d} already there")
            continue
        if time_left(deadline) < 1:
            raise OutOfTime(f"before writing {name}")
        t0 = time.perf_counter()
        tmp = work / f"{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        write(tmp)
        shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
        log(f"checkpoints: {d} written in {time.perf_counter() - t0:.1f} s")


# --------------------------------------------------------------------------------------------
# PyTorch side
# --------------------------------------------------------------------------------------------

TF32_DEFAULTS: dict = {}


def set_tf32(matmul: bool, cudnn: bool) -> None:
    import torch
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def load_torch_model(model_id: str, work: Path, attn: str):
    """(model, preprocess: PIL image -> [3,S,S] tensor, forward: (model, x) -> [B,768]) as the references."""
    import make_fixtures as mf
    kind, size = MODELS[model_id]
    if kind == "dino":
        model = mf.load_dino(work / "dino", attn=attn)
        proc = mf.SlowViTProcessor.from_pretrained(str(work / "dino"))
        prep = lambda im: proc(images=im, return_tensors="pt")["pixel_values"][0]
        fwd = lambda m, x: m(pixel_values=x).last_hidden_state[:, 0]
    else:
        over = None if size == 518 else size
        model = mf.load_dinov2(work / "dinov2", img_size=over)
        tf, _ = mf.dinov2_transform(model, over)
        prep = tf
        fwd = lambda m, x: m(x)
    return model, prep, fwd


def sync(dev) -> None:
    import torch
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def free_cuda(dev) -> None:
    import gc
    import torch
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def cosine_rows(got: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    cos = np.sum(got * ref, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    rel = np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)
    return cos, rel


# --------------------------------------------------------------------------------------------
# phase: parity
# --------------------------------------------------------------------------------------------

def artlens_embed(al: Artlens, model_id: str, weights: Path, pngs: list[Path], batch: int, precision: str,
                  deadline: float) -> np.ndarray | str:
    """[N, D] in the order of `pngs`, or the reason the precision is unavailable."""
    args = ["embed", "--model", model_id, "--weights", weights, "--batch-size", batch, *al.common(precision),
            "--json", *pngs]
    r, secs = al.run(args, deadline)
    why = unavailable(r, precision)
    if why:
        return why
    if r.returncode != 0:
        raise failure(r, f"embed {model_id} {precision}")
    by_path = {str(Path(o["path"]).resolve()): np.asarray(o["embedding"], np.float64) for o in json_lines(r.stdout)}
    missing = [p.name for p in pngs if str(p) not in by_path]
    if missing:
        raise ArtlensFailed(f"embed {model_id} {precision}: no embedding for {missing}")
    log(f"parity: artlens {model_id} {precision}: {len(pngs)} images in {secs:.1f} s (process included)")
    return np.stack([by_path[str(p)] for p in pngs])


def parity_row(model_id: str, precision: str, what: str, got, ref: np.ndarray, pngs, bound: float | None) -> dict:
    """got: [N, D], or why it is unavailable (str), or the artlens failure (a failed bound)."""
    row = {"model": model_id, "precision": precision, "compared": what, "bound_min_cosine": bound}
    if isinstance(got, ArtlensFailed):
        return {**row, "available": False, "reason": f"FAILED: {got}", "ok": False}
    if isinstance(got, str):
        return {**row, "available": False, "reason": got, "ok": None}
    cos, rel = cosine_rows(got, ref)
    worst = int(np.argmin(cos))
    row.update(available=True, images=len(pngs), min_cosine=float(cos.min()), max_rel_l2=float(rel.max()),
               worst_image=Path(pngs[worst]).name, ok=None if bound is None else bool(cos.min() >= bound))
    return row


def phase_parity(s: Settings, al: Artlens, work: Path, state: dict, results: Results, deadline: float) -> None:
    import torch
    dev = torch.device(s.device)
    pngs = state["pngs"]
    import make_fixtures as mf
    for model_id, (ckpt, _) in MODELS.items():
        got = {}
        for precision in ("f32", "bf16"):
            try:
                got[precision] = artlens_embed(al, model_id, work / ckpt, pngs, s.embed_batch, precision, deadline)
            except ArtlensFailed as e:  # recorded as a failed bound; the other models still get checked
                log(f"parity: {e}")
                got[precision] = e

        t0 = time.perf_counter()
        # eager attention for DINO: the plain formula, as make_fixtures.py's references
        model, prep, fwd = load_torch_model(model_id, work, attn="eager")
        x = torch.stack([prep(mf.load_rgb(p)) for p in pngs]).to(dev)
        model = model.to(dev)
        set_tf32(False, False)
        with torch.inference_mode():
            ref = fwd(model, x).float().cpu().numpy()
            # PyTorch in bf16, for context; on a CPU it is slow and artlens has no bf16 to compare with.
            torch_bf16 = (fwd(model.to(torch.bfloat16), x.to(torch.bfloat16)).float().cpu().numpy()
                          if s.cuda else "skipped on the CPU")
        del model, x
        free_cuda(dev)
        log(f"parity: PyTorch {model_id} f32 (TF32 off) and bf16 in {time.perf_counter() - t0:.1f} s")

        rows = [parity_row(model_id, "f32", "artlens vs PyTorch f32", got["f32"], ref, pngs, F32_MIN_COS),
                parity_row(model_id, "bf16", "artlens vs PyTorch f32", got["bf16"], ref, pngs, BF16_MIN_COS),
                parity_row(model_id, "bf16", "PyTorch bf16 vs PyTorch f32 (context)", torch_bf16, ref, pngs, None)]
        for r in rows:
            log("parity: " + fmt_parity(r))
        results.data["parity"] += rows
        results.save()


# --------------------------------------------------------------------------------------------
# phase: throughput
# --------------------------------------------------------------------------------------------

def torch_bench(model, fwd, x, dev, target_s: float, fixed_iters: int | None, deadline: float) -> dict:
    import torch
    with torch.inference_mode():
        fwd(model, x)  # warm-up: kernel selection, allocator
        sync(dev)
        t0 = time.perf_counter()
        fwd(model, x)
        sync(dev)
        one = time.perf_counter() - t0
        iters = fixed_iters or max(3, min(1000, round(target_s / max(one, 1e-6))))
        if time_left(deadline) < one * iters:
            raise OutOfTime(f"PyTorch bench needs ~{one * iters:.0f} s")
        t0 = time.perf_counter()
        for _ in range(iters):
            fwd(model, x)
        sync(dev)
        secs = time.perf_counter() - t0
    return {"images_per_s": x.shape[0] * iters / secs, "iters": iters, "seconds": secs}


def artlens_bench(al: Artlens, model_id: str, weights: Path, batch: int, precision: str, iters: int,
                  deadline: float, cap_s: float | None) -> dict:
    args = ["bench", "--model", model_id, "--weights", weights, "--batch-size", batch, "--iters", iters,
            *al.common(precision), "--json"]
    try:
        r, wall = al.run(args, deadline, cap_s)
        why = unavailable(r, precision)
        if why:
            return {"available": False, "reason": why}
        if r.returncode != 0:
            raise failure(r, f"bench {model_id} {precision}")
    except ArtlensFailed as e:
        return {"available": False, "reason": f"FAILED: {e}"}
    obj = json_lines(r.stdout)[-1]
    return {"available": True, "images_per_s": obj["images_per_s"], "iters": iters, "seconds": obj.get("seconds"),
            "process_wall_s": wall}


def phase_throughput(s: Settings, al: Artlens, work: Path, results: Results, deadline: float) -> None:
    import torch
    dev = torch.device(s.device)
    for model_id, (ckpt, size) in MODELS.items():
        b = s.bench_batch[model_id]
        x32 = torch.randn(b, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev)
        # sdpa: what transformers runs by default (timm's ViT uses F.scaled_dot_product_attention too)
        model, _, fwd = load_torch_model(model_id, work, attn="sdpa")
        model = model.to(dev)
        bench = lambda x, f=fwd: torch_bench(model, f, x, dev, s.bench_seconds, s.bench_fixed_iters, deadline)
        t, variants = {}, {"f32": {}, "bf16": {}}
        set_tf32(False, False)
        t["f32"] = bench(x32)
        if s.cuda:  # TF32 and bf16 mean nothing on a CPU (and artlens has no bf16 there)
            set_tf32(TF32_DEFAULTS["matmul"], TF32_DEFAULTS["cudnn"])
            variants["f32"]["PyTorch default TF32 flags"] = {**bench(x32), "flags": dict(TF32_DEFAULTS)}
            set_tf32(False, False)
            model = model.to(torch.bfloat16)
            t["bf16"] = bench(x32.to(torch.bfloat16))
            # What `artlens bench` does every iteration besides the forward: f32 pixels from (pageable)
            # host memory to the device, and the embeddings back. Context for the model-only ratio.
            x_host = x32.cpu()
            variants["bf16"]["PyTorch incl. upload"] = bench(
                x_host, lambda m, x: fwd(m, x.to(dev).to(torch.bfloat16)).float().cpu())
        del model, x32
        free_cuda(dev)
        log(f"throughput: PyTorch {model_id} batch {b}: " + ", ".join(
            f"{k} {v['images_per_s']:.1f}/s" for k, v in [*t.items(), *variants["f32"].items(),
                                                          *variants["bf16"].items()]))

        for precision in ("f32", "bf16"):
            ref = t.get(precision)
            # iterations for about bench_seconds if artlens runs as fast as PyTorch at this precision
            iters = s.bench_fixed_iters or (max(3, min(1000, math.ceil(s.bench_seconds * ref["images_per_s"] / b)))
                                            if ref else 3)
            a = artlens_bench(al, model_id, work / ckpt, b, precision, iters, deadline, s.bench_call_cap_s)
            row = {"model": model_id, "input": size, "batch": b, "precision": precision, "artlens": a,
                   "pytorch": ref or "skipped on the CPU", "pytorch_variants": variants[precision]}
            if a.get("available") and ref:
                row["ratio"] = a["images_per_s"] / ref["images_per_s"]
                for v in variants[precision].values():
                    v["ratio"] = a["images_per_s"] / v["images_per_s"]
            log("throughput: " + fmt_bench_short(row))
            results.data["throughput"].append(row)
            results.save()


# --------------------------------------------------------------------------------------------
# phase: index
# --------------------------------------------------------------------------------------------

def index_once(al: Artlens, s: Settings, img_dir: Path, store: Path, weights: Path, precision: str,
               deadline: float) -> dict:
    shutil.rmtree(store, ignore_errors=True)
    args = ["--store", store, "index", img_dir, "--backbones", "dino", "--weights", f"dino={weights}",
            "--batch-size", s.index_batch, "--decode-threads", s.decode_threads, *al.common(precision), "--json"]
    r, wall = al.run(args, deadline)
    shutil.rmtree(store, ignore_errors=True)
    why = unavailable(r, precision)
    if why:
        return {"available": False, "reason": why}
    # exit 1: it ran but some images failed; the summary says how many (checked by the caller)
    if r.returncode not in (0, 1) or not json_lines(r.stdout):
        raise failure(r, f"index {img_dir.name} {precision}")
    summary = json_lines(r.stdout)[-1]
    return {"available": True, "wall_s": wall, "embedded": summary.get("embedded"), "failed": summary.get("failed"),
            "artlens_images_per_s": summary.get("images_per_second"), "artlens_seconds": summary.get("seconds")}


def phase_index(s: Settings, al: Artlens, work: Path, state: dict, results: Results, deadline: float) -> None:
    for precision in ("bf16", "f32"):
        row = {"model": "dino", "input": 224, "precision": precision, "batch": s.index_batch,
               "decode_threads": s.decode_threads, "images": s.n_jpeg, "subset": s.n_subset}
        try:
            sub = index_once(al, s, state["subset_dir"], work / "store-subset", work / "dino", precision, deadline)
            full = (index_once(al, s, state["jpeg_dir"], work / "store-full", work / "dino", precision, deadline)
                    if sub["available"] else None)
        except ArtlensFailed as e:
            sub, full = {"available": False, "reason": f"FAILED: {e}"}, None
        if not sub["available"]:
            row.update(available=False, reason=sub["reason"])
        else:
            row.update(available=True, full=full, subset=sub, wall_images_per_s=s.n_jpeg / full["wall_s"])
            dt = full["wall_s"] - sub["wall_s"]
            row["marginal_images_per_s"] = (s.n_jpeg - s.n_subset) / dt if dt > 0 else None
            if full["embedded"] != s.n_jpeg:
                row["problem"] = f"embedded {full['embedded']} of {s.n_jpeg} images ({full['failed']} failed)"
        log("index: " + fmt_index(row))
        results.data["index"].append(row)
        results.save()


# --------------------------------------------------------------------------------------------
# phase: feed
# --------------------------------------------------------------------------------------------

def phase_feed(s: Settings, al: Artlens, work: Path, state: dict, results: Results, deadline: float) -> None:
    model_rows = [r for r in results.data["throughput"] if r["model"] == "dino" and r["artlens"].get("available")]
    best = max(model_rows, key=lambda r: r["artlens"]["images_per_s"], default=None)
    for label, folder in (("640x480", state["jpeg_dir"]), ("3 MP", state["scan_dir"])):
        args = ["bench", "--model", "dino", "--weights", f"dino={work / 'dino'}", "--decode", folder,
                "--decode-threads", s.decode_threads, "--json"]
        r, _ = al.run(args, deadline)
        if r.returncode != 0 or not json_lines(r.stdout):
            raise failure(r, f"bench --decode {label}")
        d = json_lines(r.stdout)[-1]
        row = {"jpeg": label, "decode": d}
        if best:
            need = best["artlens"]["images_per_s"]
            row.update(model=f"dino@224 {best['precision']}", model_images_per_s=need,
                       ratio=d["images_per_s"] / need,
                       cores_to_feed=math.ceil(need / max(d["images_per_s_per_thread"], 1e-9)))
        log("feed: " + fmt_feed(row))
        results.data["feed"].append(row)
        results.save()


def fmt_feed(r: dict) -> str:
    d = r["decode"]
    out = (f"{r['jpeg']} JPEGs: decode pool {d['images_per_s']:.1f}/s on {d['threads']} threads "
           f"({d['images_per_s_per_thread']:.1f}/s per thread, {d['megapixels_per_s']:.0f} MP/s)")
    if "ratio" in r:
        fed = "fed" if r["ratio"] >= 1 else "WAITS"
        out += (f"; model {r['model']} {r['model_images_per_s']:.1f}/s: ratio {r['ratio']:.2f} ({fed}; "
                f"{r['cores_to_feed']} cores would feed it)")
    return out


# --------------------------------------------------------------------------------------------
# verdict and table
# --------------------------------------------------------------------------------------------

def verdict(data: dict, s: Settings, phases: list[str], gpu_name: str) -> dict:
    v = {}
    if "parity" in phases:
        bounded = [r for r in data["parity"] if r["bound_min_cosine"] is not None]
        failed = [f"{r['model']} {r['precision']}" for r in bounded if r["ok"] is False]
        # on a GPU an unavailable precision is an unproven bound; on a CPU bf16 is expected to be missing
        missing = [f"{r['model']} {r['precision']}" for r in bounded if r["ok"] is None and s.cuda]
        complete = data["phases"].get("parity", {}).get("status") == "ok" and len(bounded) == 2 * len(MODELS)
        v["parity"] = "FAIL" if failed or missing else ("PASS" if complete else "INCOMPLETE")
        v["parity_failed"], v["parity_unchecked"] = failed, missing
    for r in data.get("feed", []):
        if "ratio" in r:
            v[f"gpu_fed_{r['jpeg'].replace(' ', '').lower()}"] = (
                f"{'YES' if r['ratio'] >= 1 else 'NO'}: the decode pool gives {r['decode']['images_per_s']:.0f} "
                f"images/s, {r['model']} takes {r['model_images_per_s']:.0f}; {r['cores_to_feed']} cores would feed it")
    if not s.cuda:
        v["aims"] = "not judged on a CPU"
        return v
    where = "" if "H200" in gpu_name else f" (aims are set for an H200; measured on {gpu_name})"
    bf = [r for r in data["throughput"] if r["precision"] == "bf16"]
    if bf:
        ratios = {r["model"]: r.get("ratio") for r in bf}
        ok = all(x is not None and x >= AIM_MODEL_RATIO for x in ratios.values()) and len(ratios) == len(MODELS)
        v["aim_model_only_bf16"] = ("PASS" if ok else "MISS") + where
        v["aim_model_only_bf16_ratios"] = ratios
    ix = [r for r in data["index"] if r["precision"] == "bf16"]
    if ix:
        m = ix[0].get("marginal_images_per_s")
        v["aim_index_dino224_bf16"] = ("PASS" if m is not None and m >= AIM_INDEX_IPS else "MISS") + where
        v["aim_index_dino224_bf16_images_per_s"] = m
    return v


def f(v, spec=".1f") -> str:
    return "n/a" if v is None else format(v, spec)


def fmt_parity(r: dict) -> str:
    head = f"{r['model']:<11} {r['precision']:<5} {r['compared']:<38}"
    if not r.get("available", True):
        return f"{head} not available on this device: {r['reason']}"
    ok = "" if r["ok"] is None else f"  >= {r['bound_min_cosine']}: {'PASS' if r['ok'] else 'FAIL'}"
    return (f"{head} min cos {r['min_cosine']:.9f}  max rel L2 {r['max_rel_l2']:.2e}  "
            f"(worst {r['worst_image']}){ok}")


def fmt_bench_short(r: dict) -> str:
    a, p = r["artlens"], r["pytorch"]
    art = f"{a['images_per_s']:.1f}/s" if a.get("available") else f"n/a ({a['reason']})"
    pt = f"{p['images_per_s']:.1f}/s" if isinstance(p, dict) else p
    return f"{r['model']} {r['precision']} batch {r['batch']}: artlens {art}, PyTorch {pt}, ratio {f(r.get('ratio'), '.3f')}"


def fmt_index(r: dict) -> str:
    if not r.get("available"):
        return f"dino@224 {r['precision']}: not available on this device: {r['reason']}"
    fu = r["full"]
    return (f"dino@224 {r['precision']}: {r['images']} JPEGs in {fu['wall_s']:.1f} s wall "
            f"({r['wall_images_per_s']:.1f}/s), marginal {f(r['marginal_images_per_s'])}/s, "
            f"artlens-reported {f(fu['artlens_images_per_s'])}/s" + (f"  PROBLEM: {r['problem']}" if "problem" in r else ""))


def print_table(data: dict, s: Settings) -> None:
    e = data["env"]
    print(f"\nartlens GPU check on {e['device_name']}  ({e.get('artlens_version')}; torch {e['torch']}, "
          f"timm {e['timm']}, transformers {e['transformers']})")
    for name, ph in data["phases"].items():
        print(f"  phase {name:<12} {ph['status']:<12} {ph['seconds']:7.1f} s")
    if data["parity"]:
        print(f"\nParity on {s.n_png} PNGs (reference: PyTorch f32, TF32 off, on {s.device})")
        for r in data["parity"]:
            print("  " + fmt_parity(r))
    if data["throughput"]:
        print("\nModel-only throughput, images/s (random input)")
        print(f"  {'model':<11} {'input':>5} {'batch':>5}  {'precision':<20} {'artlens':>9} {'PyTorch':>9} {'ratio':>6}")
        for r in data["throughput"]:
            a = r["artlens"]
            art = f(a["images_per_s"]) if a.get("available") else "n/a"
            p = r["pytorch"]
            pt = f(p["images_per_s"]) if isinstance(p, dict) else "skipped"
            label = "f32 (TF32 off)" if r["precision"] == "f32" else r["precision"]
            print(f"  {r['model']:<11} {r['input']:>5} {r['batch']:>5}  {label:<20} {art:>9} {pt:>9} "
                  f"{f(r.get('ratio'), '.3f'):>6}")
            for name, v in r["pytorch_variants"].items():
                print(f"  {'':<11} {'':>5} {'':>5}  {'  vs ' + name:<30} {f(v['images_per_s']):>9} "
                      f"{f(v.get('ratio'), '.3f'):>6}")
            if not a.get("available"):
                print(f"  {'':<25} artlens: not available: {a['reason'][:160]}")
        if TF32_DEFAULTS and s.cuda:
            print(f"  (PyTorch defaults here: matmul.allow_tf32={TF32_DEFAULTS['matmul']}, "
                  f"cudnn.allow_tf32={TF32_DEFAULTS['cudnn']})")
    if data["index"]:
        print(f"\nindex: dino@224, {s.n_jpeg} JPEGs {JPEG_SIZE[0]}x{JPEG_SIZE[1]}, batch {s.index_batch}, "
              f"{s.decode_threads} decode threads; marginal = ({s.n_jpeg} - {s.n_subset}) / (wall - wall of {s.n_subset})")
        for r in data["index"]:
            print("  " + fmt_index(r))
    if data.get("feed"):
        print("\nIs the GPU fed? The decode pool alone (artlens bench --decode) against the model-only speed")
        for r in data["feed"]:
            print("  " + fmt_feed(r))
    print("\nVerdict")
    for k, v in data["verdict"].items():
        print(f"  {k}: {json.dumps(v) if isinstance(v, (list, dict)) else v}")


# --------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artlens", type=Path, default=REPO / "gpu-bin" / "artlens")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (artlens and PyTorch alike)")
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke test of the script")
    ap.add_argument("--threads", type=int, default=None,
                    help="artlens --threads/--decode-threads, torch.set_num_threads, image writers (default: all cores)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu-check"), help="checkpoints, images, stores")
    ap.add_argument("--out", type=Path, default=None, help="gpu_check.json and .log (default: $OUT, else target/gpu-check)")
    ap.add_argument("--budget-s", type=float, default=540.0, help="the whole run's time limit; phases get shares of it")
    ap.add_argument("--bench-seconds", type=float, default=4.0, help="target duration of each throughput measurement")
    ap.add_argument("--phases", default=",".join(PHASES),
                    help=f"comma-separated subset of {','.join(PHASES)} (images and checkpoints always run)")
    args = ap.parse_args()

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if bad := [p for p in phases if p not in PHASES]:
        ap.error(f"unknown phase(s) {bad}; choose from {PHASES}")
    if not args.artlens.is_file() or not os.access(args.artlens, os.X_OK):
        print(f"error: no artlens binary at {args.artlens} (see scripts/gpu_check.sh for how to build it)",
              file=sys.stderr)
        return 2
    out = (args.out or Path(os.environ.get("OUT") or REPO / "target" / "gpu-check")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log.open(out / "gpu_check.log")
    s = make_settings(args)
    start = time.monotonic()
    end = start + args.budget_s
    deadline = lambda name: min(time.monotonic() + PHASE_SHARE[name] * args.budget_s, end)

    av = subprocess.run([str(args.artlens), "--version"], capture_output=True, text=True)
    header = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
              "argv": sys.argv[1:], "settings": asdict(s),
              "bounds": {"f32_min_cosine": F32_MIN_COS, "bf16_min_cosine": BF16_MIN_COS},
              "aims": {"model_only_bf16_ratio": AIM_MODEL_RATIO, "index_dino224_bf16_images_per_s": AIM_INDEX_IPS},
              "env": {"artlens": str(args.artlens), "artlens_version": (av.stdout or av.stderr).strip(),
                      "host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                      "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH", "")}}
    results = Results(out / "gpu_check.json", header)
    results.save()
    log(f"artlens {header['env']['artlens_version']}; device {s.device}; work {work}; results {results.path}")

    state: dict = {}
    sys.path.insert(0, str(FIXTURES))
    run_phase(results, "images", deadline("images"), lambda d: phase_images(s, work, state, d))

    import torch  # after the image writers have forked
    import timm
    import transformers
    warnings.filterwarnings("ignore")  # transformers/timm deprecation chatter would bury the progress lines
    if args.threads:
        torch.set_num_threads(args.threads)
    TF32_DEFAULTS.update(matmul=bool(torch.backends.cuda.matmul.allow_tf32),
                         cudnn=bool(torch.backends.cudnn.allow_tf32))
    dev = torch.device(s.device)
    gpu_name = torch.cuda.get_device_name(dev) if s.cuda else platform.processor() or "CPU"
    results.data["env"].update(device_name=gpu_name, torch=torch.__version__, timm=timm.__version__,
                               transformers=transformers.__version__, torch_tf32_defaults=dict(TF32_DEFAULTS),
                               cuda_available=torch.cuda.is_available())
    if s.cuda and not torch.cuda.is_available():
        print("error: PyTorch sees no CUDA device", file=sys.stderr)
        return 2

    ok = run_phase(results, "checkpoints", deadline("checkpoints"), lambda d: phase_checkpoints(work, d))
    al = Artlens(args.artlens.resolve(), s.device, s.threads)
    if ok and "pngs" in state:
        for name, fn in [("parity", lambda d: phase_parity(s, al, work, state, results, d)),
                         ("throughput", lambda d: phase_throughput(s, al, work, results, d)),
                         ("index", lambda d: phase_index(s, al, work, state, results, d)),
                         ("feed", lambda d: phase_feed(s, al, work, state, results, d))]:
            if name in phases:
                run_phase(results, name, deadline(name), fn)
    results.data["verdict"] = verdict(results.data, s, phases, gpu_name)
    results.data["total_seconds"] = round(time.monotonic() - start, 1)
    results.save()
    print_table(results.data, s)
    print(f"\n{results.path} ({results.data['total_seconds']} s)")
    return 0 if results.data["verdict"].get("parity", "PASS") == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
