#!/usr/bin/env bash
# troupe developer entry point. Every command installs what is missing from
# Debian 12's archive first, so a fresh clone on a fresh machine works.
#
#   scripts/dev.sh setup      install build dependencies (apt, with sudo when not root)
#   scripts/dev.sh build      configure + build (Release) into build/
#   scripts/dev.sh test       build, then run the whole suite with ctest
#   scripts/dev.sh demo       build, then run the demo and explain what it shows
#   scripts/dev.sh sanitize   ThreadSanitizer suite, then AddressSanitizer+UBSan suite, then fuzz
#   scripts/dev.sh clang      the actors, toolkit and observe suites built with clang (also part of sanitize)
#   scripts/dev.sh fuzz       libFuzzer on the frame decoder, the handshake and the TLS-wrapped handshake (clang), TROUPE_FUZZ_SECONDS each
#   scripts/dev.sh bench      install CAF, build, print troupe-bench lines beside caf-bench
#                             lines (TROUPE_BENCH_RUNS runs each, default 3) and their medians
#   scripts/dev.sh peers      install the peer frameworks used for comparison (CAF, Erlang)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${TROUPE_JOBS:-$(nproc)}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian packages the build needs. Each entry is "package:file-that-proves-it".
deps=(
  "g++:/usr/bin/g++"
  "cmake:/usr/bin/cmake"
  "ninja-build:/usr/bin/ninja"
  "libboost-dev:/usr/include/boost/asio.hpp"
  "libboost-system-dev:/usr/lib/x86_64-linux-gnu/cmake/boost_system-1.74.0"
  "libprotobuf-dev:/usr/include/google/protobuf/message.h"
  "protobuf-compiler:/usr/bin/protoc"
  "libspdlog-dev:/usr/include/spdlog/spdlog.h"
  "libfmt-dev:/usr/include/fmt/format.h"
  "libgtest-dev:/usr/include/gtest/gtest.h"
  "libgmock-dev:/usr/include/gmock/gmock.h"
  "libbenchmark-dev:/usr/include/benchmark/benchmark.h"
  "libssl-dev:/usr/include/openssl/hmac.h"
  "openssl:/usr/bin/openssl"
  "etcd-server:/usr/bin/etcd"  # the cluster tests start their own, on loopback
  "pkg-config:/usr/bin/pkg-config"
  "python3-prometheus-client:/usr/lib/python3/dist-packages/prometheus_client/parser.py"  # checks /metrics' format
  "tmux:/usr/bin/tmux"  # drives troupe-top in its test
)

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  log "installing: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

setup() {
  local missing=()
  for d in "${deps[@]}"; do
    local pkg=${d%%:*} file=${d#*:}
    [ -e "$file" ] || missing+=("$pkg")
  done
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

peers() {
  local missing=()
  [ -e /usr/include/caf/all.hpp ] || missing+=(libcaf-dev)
  command -v erl >/dev/null || missing+=(erlang-base)
  command -v node >/dev/null || missing+=(nodejs)  # the worker_threads reference for shm-pingpong
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

# configure DIR [cmake args...]
configure() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  else
    cmake -S . -B "$dir" "$@" >/dev/null
  fi
}

build() {
  setup
  log "building (Release) in build/"
  configure build -DCMAKE_BUILD_TYPE=Release -DTROUPE_BUILD_TESTS=ON -DTROUPE_BUILD_EXAMPLES=ON -DTROUPE_BUILD_BENCHMARKS=ON
  cmake --build build -j "$jobs"
}

run_ctest() {
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure --no-tests=error --timeout 300 -j "$jobs" "$@")
}

test_cmd() {
  build
  log "running the test suite"
  run_ctest build "$@"
}

sanitize() {
  setup
  log "ThreadSanitizer build in build-tsan/"
  configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_SANITIZE=thread
  cmake --build build-tsan -j "$jobs"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_ctest build-tsan -L runtime "$@"
  if [ "${TROUPE_SANITIZE_ONLY_TSAN:-0}" = 1 ]; then return; fi
  log "AddressSanitizer+UBSan build in build-asan/"
  configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_SANITIZE=address
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    run_ctest build-asan -L runtime "$@"
  clang_suite
  fuzz
}

# The actors and toolkit suites built with clang (coroutine handlers,
# typed handles and the rest of the template-heavy API are tested on both
# compilers; g++ builds everything else).
clang_suite() {
  if ! command -v clang++ >/dev/null; then
    log "clang++ not installed: skipping the clang suite (apt install clang)"
    return
  fi
  log "clang build of the actors, toolkit and observe suites in build-clang/"
  CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTROUPE_BUILD_EXAMPLES=OFF -DTROUPE_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-clang -j "$jobs" --target actors_tests task_alloc_tests toolkit_tests observe_tests
  # The suites built here (what is not built registers as *_NOT_BUILT).
  run_ctest build-clang -L runtime -E '_NOT_BUILT$' "$@"
}

# libFuzzer on the frame decoder and the handshake, when clang is installed,
# for TROUPE_FUZZ_SECONDS (default 30) each.
fuzz() {
  if ! command -v clang++ >/dev/null; then
    log "clang++ not installed: skipping the fuzz targets (apt install clang)"
    return
  fi
  log "libFuzzer build in build-fuzz/"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_FUZZ=ON \
    -DTROUPE_BUILD_TESTS=OFF -DTROUPE_BUILD_EXAMPLES=OFF -DTROUPE_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs" --target frame_fuzz handshake_fuzz tls_fuzz
  local corpus
  for t in frame_fuzz handshake_fuzz tls_fuzz; do
    corpus=$(mktemp -d)
    cp tests/fuzz/corpus/* "$corpus"/
    log "fuzzing $t for ${TROUPE_FUZZ_SECONDS:-30} s"
    build-fuzz/tests/fuzz/$t -max_total_time="${TROUPE_FUZZ_SECONDS:-30}" -max_len=4096 -print_final_stats=1 \
      "$corpus" 2>&1 | tail -n 12
    local rc=${PIPESTATUS[0]}
    rm -rf "$corpus"
    if [ "$rc" != 0 ]; then echo "dev.sh: $t found a crash (exit $rc)" >&2; exit 1; fi
  done
}

demo() {
  build
  build/examples/troupe-demo "$@"
  # The cluster part: etcd (installed by setup), three members, a client;
  # the busiest member is killed and its sessions come back elsewhere.
  if command -v etcd >/dev/null; then
    log "a cluster on etcd: examples/cluster/run.sh"
    examples/cluster/run.sh build
  fi
}

bench() {
  peers
  build
  local tb=build/benchmarks/troupe-bench cb=build/benchmarks/peers/caf/caf-bench
  local tcp=build/benchmarks/peers/tcp/tcp-pingpong
  local t=${TROUPE_BENCH_THREADS:-2}
  local runs=${TROUPE_BENCH_RUNS:-3}
  # TROUPE_BENCH_ONLY=remote (or local, or overload) runs one part.
  local only=${TROUPE_BENCH_ONLY:-all}
  local workloads=()
  if [ "$only" != remote ] && [ "$only" != overload ]; then
    workloads+=("pingpong --n 1000000" "fanin --k 2 --n 4000000 --capacity 1024" "spawn --n 200000"
                "ring --k 1000 --n 1000000" "idle --n 100000")
  fi
  if [ "$only" != local ] && [ "$only" != overload ]; then
    workloads+=("remote-pingpong --n 20000" "remote-flood --n 2000000" "remote-flood-cuts --n 2000000"
                "uds-pingpong --n 20000" "pipe-pingpong --n 20000"
                "shm-pingpong --n 200000" "shm-flood --n 2000000" "shm-transfer --n 2000 --k 1024" "shm-copy --n 2000 --k 1024"
                "worker-spawn --n 200")
  fi
  if [ "$only" != local ] && [ "$only" != remote ] || [ "$only" = overload ]; then
    local ov="--capacity 1024 --consumer-ns 1000 --spill-dir ${TMPDIR:-/tmp}"
    workloads+=("overload --n 2000000 $ov" "overload --n 2000000 $ov --durable spill"
                "overload --n 2000000 $ov --durable wal" "overload --n 2000000 $ov --durable wal-interval"
                "overload --n 20000 $ov --durable wal-batch")
  fi
  for w in "${workloads[@]}"; do
    for ((i = 0; i < runs; i++)); do
      echo "troupe $($tb $w --threads "$t")"
      sleep 1  # let the kernel reclaim the last run's memory before the next one
      if [[ -x $cb && $w != uds-* && $w != pipe-* && $w != shm-* && $w != worker-* && $w != overload* && $w != *-cuts* ]]; then
        # CAF's remote flood runs far ahead of its receiver (unbounded queues): a smaller n.
        local cw=${w/remote-flood --n 2000000/remote-flood --n 200000}
        echo "caf    $($cb $cw --threads "$t")"; sleep 1
      fi
      if [[ $w == *-pingpong* && $w != pingpong* && $w != shm-* && -x $tcp ]]; then echo "plainc $($tcp $w)"; sleep 1; fi
      if [[ $w == shm-pingpong* ]]; then
        # Same-host references: a Node.js Worker's postMessage, Python's multiprocessing.Pipe.
        if command -v node >/dev/null; then echo "node   $(node benchmarks/peers/node/worker_pingpong.js --n 20000)"; sleep 1; fi
        echo "python $(python3 benchmarks/peers/python/pipe_pingpong.py --n 20000)"; sleep 1
      fi
    done
  done | tee /dev/stderr | python3 -c '
import json, statistics, sys, collections
runs = collections.defaultdict(list)
for line in sys.stdin:
    who, _, js = line.strip().partition(" ")
    if not js: continue
    r = json.loads(js)
    w = r["workload"] + ("/" + r["durable"] if r.get("durable", "none") != "none" else "")
    runs[(w, who)].append(r)
print("\nmedians (ns_per_op and ops_per_s; bytes_per_actor for idle):")
for (w, who), rs in sorted(runs.items()):
    key = "bytes_per_actor" if w == "idle" else "ns_per_op"
    ops = statistics.median(r["ops_per_s"] for r in rs)
    print(f"  {w:22s} {who:6s} {statistics.median(r[key] for r in rs):12.1f} {ops:14.0f}/s")
'
}

cmd=${1:-test}
shift || true
case "$cmd" in
  setup) setup ;;
  peers) peers ;;
  build) build ;;
  test) test_cmd "$@" ;;
  demo) demo "$@" ;;
  sanitize) sanitize "$@" ;;
  bench) bench ;;
  fuzz) fuzz ;;
  clang) setup; clang_suite "$@" ;;
  *) echo "usage: scripts/dev.sh {setup|build|test|demo|sanitize|clang|fuzz|bench|peers}" >&2; exit 2 ;;
esac
