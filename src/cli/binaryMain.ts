// The single executable's entry (scripts/binary.mjs): its V8 flags first, then the CLI.
import './applyV8Flags.js'
import './main.js'
