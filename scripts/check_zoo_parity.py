#!/usr/bin/env python3
"""Check artlens against the reference libraries on the backbone-zoo checkpoints.

Usage (from the repository root, with the reference venv of tests/fixtures/requirements.txt):

    cargo build --release
    /opt/refenv/bin/python tests/fixtures/make_zoo_fixtures.py --full DIR [--cases dino_s8,clip_b16]
    /opt/refenv/bin/python scripts/check_zoo_parity.py DIR [--cases a,b] [--artlens target/release/artlens]
        [--threads N] [--batch-size B] [--device cpu|cuda:0] [--json]

DIR is what `make_zoo_fixtures.py --full DIR` wrote (full-size random checkpoints, one folder per case,
reference.safetensors, manifest.json, images/); the tiny fixtures (tests/fixtures/zoo) work too.

For each case of DIR/manifest.json and each of its variants (the native input size, and `@224` where the
reference has `<case>@224/*`) it runs

    ARTLENS --quiet embed --model MODEL_ID --weights DIR/<case> --json --offline [--image-size 224] IMAGES...

(MODEL_ID is the manifest's `model_id`: the hub id the case imitates, e.g. timm/vit_base_patch16_clip_224.openai,
facebook/dino-vits8; `--model-id CASE=ID` overrides it) and prints per image: max |diff|, cosine similarity
and relative L2 error against the reference embedding `<case>[@224]/<stem>` (batch-1 reference).

Exit status: 0 when every row meets cosine >= 0.99999 and rel L2 <= 1e-3 (all images are PNGs); 1 when
some row fails (including a case artlens could not run); 2 when artlens or the fixtures are missing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_full_parity import compare  # noqa: E402  (one comparison for both checks)

REPO = Path(__file__).resolve().parent.parent

MIN_COS = 0.99999
MAX_REL = 1e-3


def run_artlens(exe: Path, model: str, weights: Path, images: list[Path], image_size: int | None,
                threads: int | None, batch: int, device: str, offline: bool) -> tuple[dict[str, np.ndarray], str | None]:
    """Embeddings keyed by resolved path, and an error message when artlens failed."""
    cmd = [str(exe), "--quiet", "embed", "--model", model, "--weights", str(weights), "--json",
           "--batch-size", str(batch), "--device", device]
    if offline:
        cmd.append("--offline")
    if image_size is not None:
        cmd += ["--image-size", str(image_size)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    cmd += [str(p) for p in images]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        return {}, f"cannot run {exe}: {e}"
    out: dict[str, np.ndarray] = {}
    for line in r.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            return out, f"unparsable output line: {line[:120]}"
        emb = np.asarray(obj["embedding"], dtype=np.float64)
        if obj.get("dim") is not None and obj["dim"] != emb.size:
            return out, f"artlens says dim {obj['dim']} but printed {emb.size} numbers for {obj['path']}"
        out[str(Path(obj["path"]).resolve())] = emb
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-6:])
        return out, f"`{' '.join(cmd[:9])} ...` exited with {r.returncode}: {tail}"
    return out, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path, help="output of make_zoo_fixtures.py --full DIR (or tests/fixtures/zoo)")
    ap.add_argument("--cases", default=None, help="comma-separated subset of the manifest's cases")
    ap.add_argument("--model-id", action="append", default=[], metavar="CASE=ID",
                    help="pass ID to --model for CASE instead of the manifest's model_id (repeatable)")
    ap.add_argument("--artlens", type=Path, default=REPO / "target" / "release" / "artlens")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-offline", action="store_true", help="do not pass --offline to artlens")
    ap.add_argument("--json", action="store_true", help="print the rows as one JSON document")
    args = ap.parse_args()

    d = args.dir.resolve()
    if not args.artlens.is_file():
        print(f"error: {args.artlens} not found; build it with `cargo build --release`", file=sys.stderr)
        return 2
    if not (d / "manifest.json").is_file() or not (d / "reference.safetensors").is_file():
        print(f"error: {d} has no manifest.json / reference.safetensors; run "
              f"tests/fixtures/make_zoo_fixtures.py --full {d}", file=sys.stderr)
        return 2

    from safetensors.numpy import load_file
    ref = load_file(str(d / "reference.safetensors"))
    manifest = json.loads((d / "manifest.json").read_text())
    img_dir = (d / manifest.get("images_dir", "images")).resolve()
    images = {stem: img_dir / info["file"] for stem, info in manifest["images"].items()}
    missing = [str(p) for p in images.values() if not p.is_file()]
    if missing:
        print(f"error: images missing: {missing}", file=sys.stderr)
        return 2
    overrides = {}
    for o in args.model_id:
        case, sep, mid = o.partition("=")
        if not sep:
            ap.error(f"--model-id wants CASE=ID, got {o!r}")
        overrides[case] = mid
    cases = manifest["cases"]
    if args.cases:
        wanted = args.cases.split(",")
        unknown = [c for c in wanted if c not in cases]
        if unknown:
            ap.error(f"case(s) {unknown} not in {d / 'manifest.json'} (has: {', '.join(cases)})")
        cases = {c: cases[c] for c in wanted}

    rows, failed = [], False
    for name, case in cases.items():
        model = overrides.get(name, case["model_id"])
        variants = case.get("variants") or {"": {"image_size": None, "prefix": name}}
        for var in variants.values():
            prefix, size = var["prefix"], var["image_size"]
            stems = [s for s in images if f"{prefix}/{s}" in ref]
            if not stems:
                continue
            got, err = run_artlens(args.artlens, model, d / case["dir"], [images[s] for s in stems], size,
                                   args.threads, args.batch_size, args.device, not args.no_offline)
            for s in stems:
                p = images[s]
                base = {"case": name, "variant": prefix, "model": model, "image": p.name}
                if str(p.resolve()) not in got:
                    row = {**base, "error": err or "no output line for this image", "ok": False}
                else:
                    row = {**base, **compare(got[str(p.resolve())], ref[f"{prefix}/{s}"])}
                    row["ok"] = bool("error" not in row and row["cosine"] >= MIN_COS and row["rel_l2"] <= MAX_REL)
                failed |= not row["ok"]
                rows.append(row)

    if args.json:
        print(json.dumps({"dir": str(d), "mode": manifest.get("mode"), "ok": not failed,
                          "thresholds": {"cosine_min": MIN_COS, "rel_l2_max": MAX_REL}, "rows": rows}, indent=1))
    else:
        print(f"{'variant':<26} {'image':<15} {'max|diff|':>11} {'cosine':>12} {'rel L2':>11}  check")
        shown = set()
        for r in rows:
            if "max_abs" not in r:
                msg = r["error"] if r["error"] not in shown else "(as above)"
                shown.add(r["error"])
                print(f"{r['variant']:<26} {r['image']:<15} ERROR: {msg}")
                continue
            extra = f"  ({r['error']})" if "error" in r else ""
            print(f"{r['variant']:<26} {r['image']:<15} {r['max_abs']:>11.3e} {r['cosine']:>12.9f} "
                  f"{r['rel_l2']:>11.3e}  {'ok' if r['ok'] else 'FAIL'}{extra}")
        print(f"thresholds: cosine >= {MIN_COS}, rel L2 <= {MAX_REL}")
        print("PASS" if not failed else "FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
