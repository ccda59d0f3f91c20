#pragma once
// The demo's second half: two nodes in two processes.

/// Node B: publishes its actors, prints "PORT <p>", runs until killed.
int node_b_main();
/// Node A: starts node B (`self` with --node-b), talks to it, kills it.
/// Returns the process exit code.
int network_demo(const char* self);
