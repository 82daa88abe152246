#!/usr/bin/env bash
# Check (not a test): `kill -9` at random moments of `artlens export` (npy,
# csv and Parquet in turn, into one folder that also holds a person's files)
# and of `artlens doctor --into NEW`, on the sample collection indexed with
# the fixture checkpoints. After every kill the export folder must hold one
# whole export (its manifest lists exactly the files there besides the
# person's, each with the manifest's rows) and the person's files; NEW must
# be absent or a whole salvage. The bounded version of this loop runs in
# `cargo test --test store_recovery`; this one runs as many kills as asked.
#
# Usage: scripts/kill_exports.sh [KILLS_PER_COMMAND]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-300}
bin=${ARTLENS:-target/debug/artlens}
[ -x "$bin" ] || cargo build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ARTLENS_STORE="$work/store"
export ARTLENS_DINO_WEIGHTS=tests/fixtures/dino_tiny
export ARTLENS_DINOV2_WEIGHTS=tests/fixtures/dinov2_tiny
"$bin" -q index data/collection --metadata data/metadata.csv
"$bin" -q rate import data/ratings.csv >/dev/null
works=$("$bin" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["artworks"])')

out="$work/out"
mkdir -p "$out/plots"
echo mine >"$out/notes.txt"
echo '<svg/>' >"$out/plots/a.svg"

check_export() {
  python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
assert open(os.path.join(out, "notes.txt")).read() == "mine\n", "notes.txt changed"
assert os.path.isfile(os.path.join(out, "plots/a.svg")), "plots/ went"
found = sorted(n for n in os.listdir(out) if n not in ("notes.txt", "plots"))
if "manifest.json" not in found:
    assert not found, f"files without a manifest: {found}"
    sys.exit(0)
m = json.load(open(os.path.join(out, "manifest.json")))
listed = ["manifest.json"]
if m["format"] == "parquet":
    for f in m["files"]:
        listed.append(f["file"])
        b = open(os.path.join(out, f["file"]), "rb").read()
        assert b[:4] == b"PAR1" and b[-4:] == b"PAR1", f"half a Parquet file: {f['file']}"
else:
    listed += m["files"]
    rows = m["rows"]
    items = open(os.path.join(out, "items.csv")).read().count("\n") - 1
    assert items == rows, f"items.csv has {items} rows, the manifest {rows}"
    if m["format"] == "npy":
        b = open(os.path.join(out, "embeddings.npy"), "rb").read()
        hl = int.from_bytes(b[8:10], "little")
        n = int(b[10:10 + hl].decode().split("'shape': (")[1].split(",")[0])
        assert n == rows and len(b) - 10 - hl == rows * m["dim"] * 4, "embeddings.npy"
    else:
        n = open(os.path.join(out, "embeddings.csv")).read().count("\n")
        assert n == rows, f"embeddings.csv has {n} rows, the manifest {rows}"
assert sorted(listed) == found, f"the folder mixes exports: {found} vs {sorted(listed)}"
PY
}

ms() { echo $(( $(date +%s%N) / 1000000 )); }
# The commands `exec` the binary, so that the background job's pid is
# artlens itself and `kill -9` reaches it.
# Runs "$@" once whole (to time it), then KILLS times killed after a random
# moment of up to twice that, calling the check function $check after
# each kill. Prints how many were killed before they ended.
kill_loop() {
  local check=$1 name=$2
  shift 2
  local t0 whole killed=0 bad=0 i delay pid
  t0=$(ms)
  ("$@" 0) >/dev/null 2>&1
  whole=$(( $(ms) - t0 + 1 ))
  for ((i = 1; i <= kills; i++)); do
    "$@" "$i" >/dev/null 2>&1 &
    pid=$!
    delay=$(( RANDOM * 32768 + RANDOM ))
    delay=$(( delay % (whole * 2 + 1) ))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -0 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ! "$check" >"$work/why" 2>&1; then
      bad=$((bad + 1))
      echo "after kill $i: $(tail -1 "$work/why")"
    fi
  done
  echo "$name: $kills runs killed at random moments (a whole run: ${whole} ms), $killed before they ended; $bad left a bad state"
  [ "$bad" -eq 0 ]
}

formats=(npy parquet csv)
export_run() {
  local f=${formats[$(( $1 % 3 ))]}
  if [ "$f" = parquet ]; then
    exec "$bin" -q export --format parquet "$out"
  else
    exec "$bin" -q export --format "$f" --backbone dino "$out"
  fi
}

into="$work/salvaged"
check_salvage() {
  [ -e "$into" ] || return 0
  local n
  n=$("$bin" status --store "$into" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["artworks"])')
  [ "$n" = "$works" ] || { echo "a partial salvage at NEW: $n of $works works"; return 1; }
  rm -rf "$into"
}
salvage_run() { exec "$bin" -q doctor --into "$into"; }

status=0
kill_loop check_export export export_run || status=1
kill_loop check_salvage "doctor --into" salvage_run || status=1
exit $status
