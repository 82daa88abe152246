#!/usr/bin/env python3
"""hnswlib on the vectors `cargo bench --bench ann` wrote, side by side with
artlens::ann (hnsw_rs) numbers from the same run.

    cargo bench --bench ann                       # writes target/ann-bench/
    /opt/refenv/bin/python scripts/bench_ann.py   # hnswlib on the same vectors

    /opt/refenv/bin/python scripts/bench_ann.py --run-rust --n 20000
        # runs the Rust bench first (ANN_N=20000), then hnswlib

    /opt/refenv/bin/python scripts/bench_ann.py --rounds 3
        # then alternates: artlens searches (ANN_SEARCH_ONLY=1, the saved
        # index) and hnswlib searches, twice more; ratios are per round and
        # their median is reported (this machine's speed drifts by ±20%
        # between minutes, so only alternating rounds compare fairly)

    /opt/refenv/bin/python scripts/bench_ann.py --rounds 3 --build-rounds 3
        # and builds twice more each, alternating (ANN_BUILD_ONLY=1: the
        # artlens build alone, then a fresh hnswlib build); the build ratio
        # reported is the median of the per-round ratios

Needs numpy and hnswlib (`/opt/refenv/bin/pip install hnswlib`). hnswlib is
built with the same M and ef_construction, on normalised vectors with the
inner-product space (cosine, as artlens), with as many threads as the Rust
build used; searches run one thread, all queries in one call (no Python
overhead per query), at the same ef values. Recall@10 is measured against
the exact top 10 the Rust bench wrote (`truth.npy`), checked here with numpy.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def run_rust(n, queries):
    env = dict(os.environ, ANN_N=str(n), ANN_QUERIES=str(queries))
    print(f"running cargo bench --bench ann with ANN_N={n}", file=sys.stderr)
    subprocess.run(["cargo", "bench", "--bench", "ann"], cwd=ROOT, env=env, check=True)


def normalise(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall(ids, truth):
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, truth))
    return hits / truth.size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=ROOT / "target" / "ann-bench")
    ap.add_argument("--run-rust", action="store_true", help="run the Rust bench first")
    ap.add_argument("--n", type=int, default=100_000, help="points for --run-rust")
    ap.add_argument("--queries", type=int, default=1_000, help="queries for --run-rust")
    ap.add_argument("--json", action="store_true", help="print the comparison as JSON")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate artlens and hnswlib searches this many times (median ratio)")
    ap.add_argument("--build-rounds", type=int, default=1,
                    help="alternate artlens and hnswlib builds this many times (median ratio)")
    args = ap.parse_args()

    if args.run_rust:
        run_rust(args.n, args.queries)
    try:
        import hnswlib
    except ImportError:
        sys.exit("hnswlib is missing: /opt/refenv/bin/pip install hnswlib")
    rust_path = args.dir / "rust.json"
    if not rust_path.exists():
        sys.exit(f"{rust_path} is missing: run `cargo bench --bench ann` first (or pass --run-rust)")
    rust = json.loads(rust_path.read_text())
    data = normalise(np.load(args.dir / "vectors.npy"))
    queries = normalise(np.load(args.dir / "queries.npy"))
    truth = np.load(args.dir / "truth.npy")
    n, dim = data.shape
    k = truth.shape[1]
    assert n == rust["n"] and len(queries) == rust["queries"], "vectors and rust.json are from different runs"

    # Check the Rust ground truth with numpy (ties aside, it must agree).
    t = time.perf_counter()
    sims = queries[:100] @ data.T
    np_truth = np.argsort(-sims, axis=1)[:, :k]
    numpy_exact_qps = 100 / (time.perf_counter() - t)
    truth_agreement = recall(np_truth, truth[:100])

    m = rust["params"]["M"]
    efc = rust["params"]["ef_construction"]
    threads = rust["threads"]
    def hnswlib_build():
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
        index.set_num_threads(threads)
        t = time.perf_counter()
        index.add_items(data, np.arange(n))
        return index, time.perf_counter() - t

    def rust_build():
        env = dict(os.environ, ANN_N=str(n), ANN_QUERIES=str(len(queries)), ANN_BUILD_ONLY="1",
                   ANN_M=str(m), ANN_EF_CONSTRUCTION=str(efc), RAYON_NUM_THREADS=str(threads))
        p = subprocess.run(["cargo", "bench", "--bench", "ann", "--", "--json"], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.PIPE)
        return json.loads(p.stdout)["build_s"]

    index, build_s = hnswlib_build()
    build_rounds = [(rust["build_s"], build_s)]
    for i in range(1, args.build_rounds):
        print(f"build round {i + 1}/{args.build_rounds}: artlens, then hnswlib", file=sys.stderr)
        r_s = rust_build()
        _, h_s = hnswlib_build()
        build_rounds.append((r_s, h_s))
    build_ratios = sorted(r / h for r, h in build_rounds)

    index.set_num_threads(1)

    def hnswlib_round():
        out = {}
        for r in rust["hnsw"]:
            ef = r["ef"]
            index.set_ef(max(ef, k))
            t = time.perf_counter()
            ids, _ = index.knn_query(queries, k=k, num_threads=1)
            out[ef] = (recall(ids, truth), len(queries) / (time.perf_counter() - t))
        return out

    def rust_round():
        env = dict(os.environ, ANN_N=str(n), ANN_QUERIES=str(len(queries)), ANN_SEARCH_ONLY="1",
                   ANN_EF=",".join(str(r["ef"]) for r in rust["hnsw"]))
        p = subprocess.run(["cargo", "bench", "--bench", "ann", "--", "--json"], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.PIPE)
        return {r["ef"]: (r["recall"], r["qps"]) for r in json.loads(p.stdout)["hnsw"]}

    rounds = [({r["ef"]: (r["recall"], r["qps"]) for r in rust["hnsw"]}, hnswlib_round())]
    for i in range(1, args.rounds):
        print(f"round {i + 1}/{args.rounds}: artlens, then hnswlib", file=sys.stderr)
        rounds.append((rust_round(), hnswlib_round()))

    rows = []
    for r in rust["hnsw"]:
        ef = r["ef"]
        ratios = sorted(ru[ef][1] / hl[ef][1] for ru, hl in rounds)
        rows.append({"ef": ef, "rust_recall": r["recall"], "rust_qps": float(np.median([ru[ef][1] for ru, _ in rounds])),
                     "rust_ms": r["median_ms"], "hnswlib_recall": rounds[0][1][ef][0],
                     "hnswlib_qps": float(np.median([hl[ef][1] for _, hl in rounds])),
                     "ratio_median": float(np.median(ratios)), "ratios": ratios})

    result = {"n": n, "dim": dim, "queries": len(queries), "k": k, "M": m, "ef_construction": efc,
              "threads": threads,
              "rust_build_s": float(np.median([r for r, _ in build_rounds])),
              "hnswlib_build_s": float(np.median([h for _, h in build_rounds])),
              "build_rounds": build_rounds, "build_ratio_median": float(np.median(build_ratios)),
              "rounds": args.rounds, "rows": rows, "rust_exact_qps": rust["exact"]["qps"],
              "rust_exact_batch_qps": rust["queries"] / rust["exact"]["batch_truth_s"],
              "numpy_exact_qps": numpy_exact_qps,
              "truth_agreement_with_numpy": truth_agreement}
    if args.json:
        print(json.dumps(result, indent=2))
        return

    print(f"{n} clustered {dim}-d vectors, {len(queries)} queries, recall@{k}; "
          f"M={m} ef_construction={efc}; build on {threads} threads, search on 1")
    print(f"build: artlens/hnsw_rs {result['rust_build_s']:.1f} s, hnswlib {result['hnswlib_build_s']:.1f} s "
          f"(medians of {len(build_rounds)} alternating round(s)); time ratio {result['build_ratio_median']:.2f}x "
          f"(rounds {' '.join(f'{x:.2f}' for x in build_ratios)}; < 1: artlens builds faster)")
    print(f"search q/s: median of {args.rounds} alternating round(s); ratio: median of the per-round ratios")
    print(f"{'ef':>5} | {'rust recall':>11} {'rust q/s':>9} {'ms':>7} | {'hnswlib recall':>14} {'hnswlib q/s':>11} | "
          f"{'q/s ratio':>9} {'rounds':>16}")
    for r in rows:
        print(f"{r['ef']:>5} | {r['rust_recall']:>11.4f} {r['rust_qps']:>9.0f} {r['rust_ms']:>7.3f} | "
              f"{r['hnswlib_recall']:>14.4f} {r['hnswlib_qps']:>11.0f} | {r['ratio_median']:>9.2f} "
              f"{' '.join(f'{x:.2f}' for x in r['ratios']):>16}")
    for target in (0.99, 0.999):
        def first(rows_, recall_key):
            hits = [r for r in rows_ if r[recall_key] >= target]
            return hits[0]["ef"] if hits else None
        ef_r, ef_h = first(rows, "rust_recall"), first(rows, "hnswlib_recall")
        if ef_r and ef_h:
            per_round = sorted(ru[ef_r][1] / hl[ef_h][1] for ru, hl in rounds)
            q_r = np.median([ru[ef_r][1] for ru, _ in rounds])
            q_h = np.median([hl[ef_h][1] for _, hl in rounds])
            print(f"at recall@{k} >= {target}: artlens {q_r:.0f} q/s (ef {ef_r}), hnswlib {q_h:.0f} q/s (ef {ef_h}): "
                  f"ratio {np.median(per_round):.2f}x (rounds {' '.join(f'{x:.2f}' for x in per_round)})")
        else:
            print(f"at recall@{k} >= {target}: not reached by {'artlens' if not q_r else 'hnswlib'} at these ef values")
    batch_qps = rust["queries"] / rust["exact"]["batch_truth_s"]
    print(f"exact: artlens {batch_qps:.1f} q/s batched ({rust['queries']} queries in one call), "
          f"{rust['exact']['qps']:.1f} q/s one query at a time; "
          f"numpy {numpy_exact_qps:.1f} q/s (100 queries in one matmul): batched ratio "
          f"{batch_qps / numpy_exact_qps:.2f}x; ground truth agrees with numpy on {truth_agreement:.4f} of ids")


if __name__ == "__main__":
    main()
