import { setFlagsFromString } from 'node:v8'

// The single executable's V8 flags: bin/murder.js passes them on its #! line, but Node 20's single executable
// takes no node options (its sea-config `execArgv` came in Node 24), so the build inlines that line's flags
// here and they are set before anything runs. V8 applies the interrupt budget to code compiled from now on;
// the semi-space size is fixed when the heap is made, so only NODE_OPTIONS can set it (see the README).
const flags = process.env['MURDER_V8_FLAGS']
if (flags) setFlagsFromString(flags)
