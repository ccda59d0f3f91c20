#!/usr/bin/env python3
"""Drives troupe-top in tmux against the running metrics_service example:
the screen shows its actors and its link, the sort keys and the filter act,
q quits. Every wait has a deadline.

usage: tmux_test.py TROUPE_TOP METRICS_SERVICE
"""
import os
import re
import shutil
import subprocess
import sys
import time

TOP, SERVICE = sys.argv[1], sys.argv[2]
SESSION = f"troupe-top-test-{os.getpid()}"


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def screen():
    return tmux("capture-pane", "-p", "-t", SESSION).stdout


def wait_for(what, pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        s = screen()
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{s}")
        time.sleep(0.1)  # polling the pane: tmux has no notification for it


def actor_rows(s):
    """The actor table's rows: (name, id, depth, msg/s)."""
    rows = []
    for line in s.splitlines():
        m = re.match(r"^(frontdoor|worker)\s+(\d+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            rows.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return rows


def main():
    if shutil.which("tmux") is None:
        print("tmux is not installed (scripts/dev.sh setup installs it)")
        return 1
    service = subprocess.Popen([SERVICE, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = service.stdout.readline()  # "metrics at http://127.0.0.1:PORT/metrics"
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m, f"unexpected first line from the example: {line!r}"
        where = f"127.0.0.1:{m.group(1)}"
        tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", f"{TOP} {where} --interval 300")
        try:
            s = wait_for("the actors with traffic",
                         lambda s: len(actor_rows(s)) == 5 and any(r[3] > 0 for r in actor_rows(s)))
            assert "sorted by msg/s" in s, s
            assert re.search(r"^service\s+loadgen\s+\d+\s+[1-9]\d*\s", s, re.M), "no link row with traffic in:\n" + s
            rows = actor_rows(s)
            assert rows[0][0] == "frontdoor", "the front door handles every job: it leads by msg/s\n" + s

            tmux("send-keys", "-t", SESSION, "n")
            s = wait_for("sorted by name", lambda s: "sorted by name" in s)
            names = [r[0] for r in actor_rows(s)]
            assert names == sorted(names), s

            tmux("send-keys", "-t", SESSION, "d")
            s = wait_for("sorted by depth", lambda s: "sorted by depth" in s)
            depths = [r[2] for r in actor_rows(s)]
            assert depths == sorted(depths, reverse=True), s

            tmux("send-keys", "-t", SESSION, "/", "w", "o", "r", "k", "Enter")
            s = wait_for("the filter", lambda s: "filter: work" in s and "frontdoor" not in s and len(actor_rows(s)) == 4)
            tmux("send-keys", "-t", SESSION, "Escape")
            wait_for("the filter cleared", lambda s: "filter:" not in s and len(actor_rows(s)) == 5)

            tmux("send-keys", "-t", SESSION, "q")
            deadline = time.monotonic() + 10
            while tmux("has-session", "-t", SESSION, check=False).returncode == 0:
                if time.monotonic() > deadline:
                    raise AssertionError("troupe-top did not quit on q")
                time.sleep(0.05)
        finally:
            tmux("kill-session", "-t", SESSION, check=False)
    finally:
        service.terminate()
        service.wait(timeout=30)
    print("troupe-top: actors, links, sort keys, filter and quit all behaved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
