/**
 * Path rules for anything a torrent names. A torrent comes from the network (magnet) or from another host,
 * so every component is checked before it becomes a path under the destination.
 */

/** Why a path component is unsafe, or null when it is fine. */
export function componentProblem(component: string): string | null {
  if (component.length === 0) return 'empty path component'
  if (component === '.' || component === '..') return `path component "${component}"`
  if (component.includes('/')) return 'path component contains "/"'
  if (component.includes('\0')) return 'path component contains NUL'
  if (Buffer.byteLength(component) > 255) return 'path component longer than 255 bytes'
  return null
}

/** Longest relative path accepted: Linux refuses paths over 4096 bytes, the destination's own path included. */
export const MAX_PATH_BYTES = 4000

/** Throws when a relative path (as components) could escape its root or is otherwise unusable. */
export function assertSafePath(components: readonly string[], describe: (reason: string) => Error): void {
  if (components.length === 0) throw describe('empty path')
  let bytes = components.length - 1
  for (const c of components) {
    const problem = componentProblem(c)
    if (problem) throw describe(problem)
    bytes += Buffer.byteLength(c)
  }
  if (bytes > MAX_PATH_BYTES) throw describe(`path longer than ${MAX_PATH_BYTES} bytes`)
}

/** Byte-wise comparison of UTF-8 paths, component by component: the same order on every machine and locale. */
export function comparePaths(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const c = compareUtf8(a[i]!, b[i]!)
    if (c !== 0) return c
  }
  return a.length - b.length
}

/**
 * UTF-8 byte order is code point order. At the first differing UTF-16 unit, code points decide: a unit
 * inside a shared surrogate pair compares as itself, a pair's start as its whole (astral) code point.
 */
function compareUtf8(x: string, y: string): number {
  if (x === y) return 0
  const n = Math.min(x.length, y.length)
  let k = 0
  while (k < n && x.charCodeAt(k) === y.charCodeAt(k)) k++
  if (k === n) return x.length - y.length
  return x.codePointAt(k)! - y.codePointAt(k)!
}

export function displayPath(components: readonly string[]): string {
  return components.join('/')
}
