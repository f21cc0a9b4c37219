#!/usr/bin/env -S node --max-semi-space-size=4
// Semi-spaces of 4 MB (Node's default grows them to 16 MB) keep a peer receiving 4 GiB ~25 MB smaller at no
// measured CPU cost: what murder allocates per block dies young. `node bin/murder.js` runs without it.
import '../dist/murder.mjs'
