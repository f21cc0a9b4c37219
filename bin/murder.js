#!/usr/bin/env -S node --max-semi-space-size=4
// Semi-spaces of 4 MB (Node's default grows them to 16 MB) keep a peer receiving 4 GiB ~25 MB smaller (114 vs
// 138 MiB peak): what murder allocates per block dies young. The price is at start: with a heap flag of its own,
// V8 refuses Node's built-in code cache, ~250 M more instructions for a process with a hash worker (callgrind;
// no change measured in the lab's all-done time). `node bin/murder.js` runs without it.
import '../dist/murder.mjs'
