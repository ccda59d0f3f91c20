import json, statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    who, _, js = line.strip().partition(" ")
    if not js: continue
    d = json.loads(js)
    runs[(d["workload"], who)].append(d["ns_per_op"])
print("workload          before(ns)  after(ns)  after/before  n")
for w in sorted({k[0] for k in runs}):
    a = statistics.median(runs[(w, "A")]); b = statistics.median(runs[(w, "B")])
    print(f"{w:16s} {a:10.1f} {b:10.1f} {b/a:12.3f}  {len(runs[(w,'A')])}")
