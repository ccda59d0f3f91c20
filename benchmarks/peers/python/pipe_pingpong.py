"""The same-host reference for troupe-bench shm-pingpong: Python's
multiprocessing.Pipe between two processes; N round trips, one in flight.
Prints one JSON line like troupe-bench.

    python3 pipe_pingpong.py [--n N]
"""
import json
import multiprocessing as mp
import sys
import time


def echo(conn):
    while True:
        m = conn.recv()
        if m is None:
            return
        conn.send(m)


def main():
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 20000
    if n <= 0:
        print("pipe_pingpong: --n needs a positive whole number", file=sys.stderr)
        sys.exit(2)
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    for i in range(1000):  # warm-up
        a.send(i)
        a.recv()
    t0 = time.perf_counter()
    for i in range(n):
        a.send(i)
        a.recv()
    secs = time.perf_counter() - t0
    a.send(None)
    p.join()
    print(json.dumps({"workload": "shm-pingpong", "n": n, "threads": 2, "seconds": secs, "ns_per_op": secs * 1e9 / n,
                      "ops_per_s": round(n / secs), "peer": "python multiprocessing.Pipe"}))


if __name__ == "__main__":
    main()
