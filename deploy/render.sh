#!/bin/sh
# Renders the deployment templates in this folder for N shards.
#
#   deploy/render.sh slurm N   > index-shards.sbatch   # the Slurm array job (tasks 0..N-1)
#   deploy/render.sh slurm-merge N > merge.sbatch      # the Slurm merge job
#   deploy/render.sh k8s N [IMAGE] > artlens-jobs.yaml # the Kubernetes Indexed Job + merge Job
#
# Only the shard count (and the container image) is filled in here; where the
# collection, the shard stores and the merged store live is set by the
# variables at the top of each rendered file (or, for Slurm, in the
# environment of `sbatch`). Needs only a POSIX shell and sed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kind=${1:-}
n=${2:-}
case "$n" in
  ''|*[!0-9]*) echo "usage: $0 slurm|slurm-merge|k8s N [IMAGE]  (N: the number of shards, at least 1)" >&2; exit 2 ;;
esac
if [ "$n" -lt 1 ]; then
  echo "$0: N must be at least 1" >&2; exit 2
fi
last=$((n - 1))
image=${3:-ghcr.io/example/artlens:latest}
case "$kind" in
  slurm) template="$here/slurm/index-shards.sbatch.in" ;;
  slurm-merge) template="$here/slurm/merge.sbatch.in" ;;
  k8s) template="$here/k8s/artlens-jobs.yaml.in" ;;
  *) echo "usage: $0 slurm|slurm-merge|k8s N [IMAGE]" >&2; exit 2 ;;
esac
sed -e "s|@SHARDS@|$n|g" -e "s|@LAST@|$last|g" -e "s|@IMAGE@|$image|g" "$template"
