/** bin/murder.js's `#!` V8 flags, inlined by the bundles (scripts/bundleOptions.mjs reads that line). */
export const V8_FLAGS = (process.env['MURDER_V8_FLAGS'] ?? '').split(' ').filter(Boolean)

/**
 * Those V8 reads only when it makes the heap: in the single executable (Node 20's takes no node options, its
 * sea-config `execArgv` came in Node 24) only NODE_OPTIONS can give them, which `deploy` does.
 */
export const HEAP_FLAGS = V8_FLAGS.filter((f) => f.startsWith('--max-semi-space-size'))
