#!/usr/bin/env python3
"""Check artlens against the reference libraries on full-size (ViT-B) random checkpoints.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    cargo build --release
    /opt/refenv/bin/python scripts/check_full_parity.py [--weights-dir DIR] [--artlens target/release/artlens]
        [--threads N] [--batch-size B] [--device cpu|cuda:0] [--json]

DIR (default target/bench-weights) must hold what `tests/fixtures/make_fixtures.py --full DIR`
writes; it is generated first if anything is missing (a few minutes, ~700 MB).

For each model (dino, dinov2 at 518, and dinov2 at 224 when the reference has `dinov2@224/*`)
it runs `ARTLENS --quiet embed --model M --weights DIR/M --json [--image-size S] IMAGES...`,
and prints per image: max |diff|, cosine similarity and relative L2 error against the
reference embeddings (for an image with an EXIF orientation: whichever of the as-stored and the
`exif_transposed/*` reference is closer, since artlens applies the orientation on purpose).

Exit status: 0 when every PNG meets cosine >= 0.99999 and rel L2 <= 1e-3 (JPEGs are only
checked against a looser cosine >= 0.999, because Pillow and the image crate decode JPEG
differently); 1 when some check fails; 2 when artlens or the fixtures cannot be run/generated.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MAKE_FIXTURES = REPO / "tests" / "fixtures" / "make_fixtures.py"

PNG_MIN_COS = 0.99999
PNG_MAX_REL = 1e-3
JPEG_MIN_COS = 0.999

FULL_FILES = ["dino/model.safetensors", "dino/config.json", "dino/preprocessor_config.json",
              "dinov2/model.safetensors", "dinov2/config.json", "reference.safetensors", "manifest.json"]


def full_fixtures_present(d: Path) -> bool:
    if not all((d / f).is_file() for f in FULL_FILES):
        return False
    try:
        m = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return m.get("mode") == "full" and all((d / "images" / i["file"]).is_file() for i in m["images"].values())


def ensure_full_fixtures(d: Path) -> None:
    if full_fixtures_present(d):
        return
    print(f"generating full-size checkpoints and references in {d} (make_fixtures.py --full) ...", file=sys.stderr)
    r = subprocess.run([sys.executable, str(MAKE_FIXTURES), "--full", str(d)], stdout=sys.stderr)
    if r.returncode != 0 or not full_fixtures_present(d):
        sys.exit(f"error: make_fixtures.py --full {d} failed (exit {r.returncode})")


def run_artlens(exe: Path, model: str, weights: Path, images: list[Path], image_size: int | None,
                threads: int | None, batch: int, device: str) -> dict[str, np.ndarray]:
    cmd = [str(exe), "--quiet", "embed", "--model", model, "--weights", str(weights), "--json",
           "--batch-size", str(batch), "--device", device]
    if image_size is not None:
        cmd += ["--image-size", str(image_size)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    cmd += [str(p) for p in images]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(f"error: {' '.join(cmd[:8])} ... exited with {r.returncode}")
    out = {}
    for line in r.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        obj = json.loads(line)
        emb = np.asarray(obj["embedding"], dtype=np.float64)
        if obj.get("dim") is not None and obj["dim"] != emb.size:
            sys.exit(f"error: artlens says dim {obj['dim']} but printed {emb.size} numbers for {obj['path']}")
        out[str(Path(obj["path"]).resolve())] = emb
    return out


def compare(got: np.ndarray, ref: np.ndarray) -> dict:
    ref = ref.astype(np.float64).ravel()
    if got.shape != ref.shape:
        return {"max_abs": float("inf"), "cosine": float("nan"), "rel_l2": float("inf"),
                "error": f"shape {got.shape} vs reference {ref.shape}"}
    return {"max_abs": float(np.max(np.abs(got - ref))),
            "cosine": float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref))),
            "rel_l2": float(np.linalg.norm(got - ref) / np.linalg.norm(ref))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights-dir", type=Path, default=REPO / "target" / "bench-weights")
    ap.add_argument("--artlens", type=Path, default=REPO / "target" / "release" / "artlens")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true", help="print the rows as one JSON document")
    args = ap.parse_args()

    d = args.weights_dir.resolve()
    if not args.artlens.is_file():
        print(f"error: {args.artlens} not found; build it with `cargo build --release`", file=sys.stderr)
        return 2
    ensure_full_fixtures(d)

    from safetensors.numpy import load_file
    ref = load_file(str(d / "reference.safetensors"))
    manifest = json.loads((d / "manifest.json").read_text())
    images = {stem: (d / "images" / info["file"]).resolve() for stem, info in manifest["images"].items()}

    runs = [("dino", "dino", None), ("dinov2", "dinov2", None)]
    if any(k.startswith("dinov2@224/") for k in ref):
        runs.append(("dinov2", "dinov2@224", 224))

    rows, failed = [], False
    for model, prefix, size in runs:
        stems = [s for s in images if f"{prefix}/{s}" in ref]
        got = run_artlens(args.artlens, model, d / model, [images[s] for s in stems], size, args.threads,
                          args.batch_size, args.device)
        for s in stems:
            p = images[s]
            is_png = p.suffix.lower() == ".png"
            if str(p) not in got:
                row = {"variant": prefix, "image": p.name, "error": "no output line for this image"}
                ok = False
            else:
                row = {"variant": prefix, "image": p.name, **compare(got[str(p)], ref[f"{prefix}/{s}"])}
                # artlens applies EXIF orientation on purpose; the plain reference (PIL) ignores it.
                tkey = f"exif_transposed/{prefix}/{s}"
                if tkey in ref:
                    alt = compare(got[str(p)], ref[tkey])
                    if alt["rel_l2"] < row["rel_l2"]:
                        row = {"variant": prefix, "image": p.name, **alt, "reference": "exif_transposed"}
                    else:
                        row["reference"] = "as stored (EXIF orientation ignored)"
                if "error" in row:
                    ok = False
                elif is_png:
                    ok = row["cosine"] >= PNG_MIN_COS and row["rel_l2"] <= PNG_MAX_REL
                else:
                    ok = row["cosine"] >= JPEG_MIN_COS
            row["check"] = ("png" if is_png else "jpeg(loose)")
            row["ok"] = bool(ok)
            failed |= not ok
            rows.append(row)

    if args.json:
        print(json.dumps({"weights_dir": str(d), "ok": not failed, "rows": rows}, indent=1))
    else:
        print(f"{'variant':<12} {'image':<16} {'max|diff|':>11} {'cosine':>12} {'rel L2':>11}  check")
        for r in rows:
            if "error" in r:
                print(f"{r['variant']:<12} {r['image']:<16} ERROR: {r['error']}")
                continue
            note = f"  [{r['reference']}]" if "reference" in r else ""
            print(f"{r['variant']:<12} {r['image']:<16} {r['max_abs']:>11.3e} {r['cosine']:>12.9f} "
                  f"{r['rel_l2']:>11.3e}  {r['check']}: {'ok' if r['ok'] else 'FAIL'}{note}")
        print(f"thresholds: PNG cosine >= {PNG_MIN_COS}, rel L2 <= {PNG_MAX_REL}; JPEG cosine >= {JPEG_MIN_COS}")
        print("PASS" if not failed else "FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
