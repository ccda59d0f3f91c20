// The same-host reference for troupe-bench shm-pingpong: a Node.js
// worker_threads Worker answers each postMessage; N round trips, one in
// flight. Prints one JSON line like troupe-bench.
//   node worker_pingpong.js [--n N]
'use strict';
const { Worker, isMainThread, parentPort } = require('worker_threads');

if (!isMainThread) {
  parentPort.on('message', (m) => parentPort.postMessage(m));
} else {
  const i = process.argv.indexOf('--n');
  const n = i > 0 ? parseInt(process.argv[i + 1], 10) : 20000;
  if (!(n > 0)) { console.error('worker_pingpong: --n needs a positive whole number'); process.exit(2); }
  const w = new Worker(__filename);
  let seq = 0, t0 = 0;
  const warmup = 1000;
  w.on('message', (m) => {
    seq = m.seq + 1;
    if (seq === warmup) t0 = process.hrtime.bigint();
    if (seq < warmup + n) { w.postMessage({ seq }); return; }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(JSON.stringify({ workload: 'shm-pingpong', n, threads: 2, seconds: secs,
      ns_per_op: secs * 1e9 / n, ops_per_s: Math.round(n / secs), peer: 'node worker_threads postMessage' }));
    w.terminate();
  });
  w.postMessage({ seq: 0 });
}
