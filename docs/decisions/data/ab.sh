#!/usr/bin/env bash
# Interleaved A/B runs of troupe-bench: baseline (A) vs this build (B). usage: ab.sh RUNS OUTFILE
runs=${1:-9}; out=${2:-/tmp/ab.raw}
A=/work/baseline/build/benchmarks/troupe-bench
B=/work/main/build/benchmarks/troupe-bench
workloads=("pingpong --n 3000000" "fanin --k 2 --n 4000000 --capacity 1024" "remote-flood --n 2000000" "shm-flood --n 2000000" "remote-pingpong --n 20000")
: > "$out"
for w in "${workloads[@]}"; do
  for ((i = 0; i < runs; i++)); do
    if (( i % 2 == 0 )); then order="A B"; else order="B A"; fi
    for who in $order; do
      bin=$A; [ "$who" = B ] && bin=$B
      echo "$who $($bin $w --threads 2)" >> "$out"
    done
  done
done
