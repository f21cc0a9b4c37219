import { setFlagsFromString } from 'node:v8'
import { HEAP_FLAGS, V8_FLAGS } from '../v8Flags.js'

// The single executable's V8 flags, set before anything else runs (binaryMain.ts imports this first): V8
// applies the interrupt budget to what it compiles from now on; the heap's sizes are fixed already (HEAP_FLAGS).
setFlagsFromString(V8_FLAGS.filter((f) => !HEAP_FLAGS.includes(f)).join(' '))
