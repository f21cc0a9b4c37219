/**
 * Symlink targets. BEP 47 (and libtorrent) read `symlink path` relative to the torrent's root; rsync keeps
 * a link's text exactly, relative to the link's own folder, or absolute. A target inside the tree is written
 * the BEP 47 way; where that does not give back the exact text (an absolute or outside target, a dangling
 * one, `./x`), the text also goes in `symlink target`, a key standard clients ignore.
 */

/** Every path the tree names, files and folders (prefixes included), as `/`-joined keys. */
export function treeEntries(files: readonly { readonly path: readonly string[] }[], dirs: readonly { readonly path: readonly string[] }[]): Set<string> {
  const keys = new Set<string>()
  for (const { path } of [...files, ...dirs]) {
    for (let n = 1; n <= path.length; n++) keys.add(path.slice(0, n).join('/'))
  }
  return keys
}

/** Lexically resolves `text` from the folder `from`: null when it is absolute, leaves the root or is the root. */
function resolveInTree(from: readonly string[], text: string): string[] | null {
  if (text.startsWith('/')) return null
  const out = [...from]
  for (const c of text.split('/')) {
    if (c === '' || c === '.') continue
    if (c !== '..') out.push(c)
    else if (out.pop() === undefined) return null
  }
  return out.length > 0 ? out : null
}

/** The link text that reaches `target` from the folder `from` (both relative to the root). */
function relativeText(from: readonly string[], target: readonly string[]): string {
  let common = 0
  while (common < from.length && common < target.length && from[common] === target[common]) common++
  const parts = [...Array<string>(from.length - common).fill('..'), ...target.slice(common)]
  return parts.length > 0 ? parts.join('/') : '.'
}

/**
 * The text of the link at `linkPath` from its `symlink path` components: relative to the root where that
 * names an entry of the tree (BEP 47), else as written relative to the link (libtorrent 2.0 writes links so,
 * and reads them back this way too).
 */
export function linkText(linkPath: readonly string[], components: readonly string[], entries: ReadonlySet<string>): string {
  const text = components.join('/')
  const resolved = resolveInTree([], text)
  return resolved && entries.has(resolved.join('/')) ? relativeText(linkPath.slice(0, -1), resolved) : text
}

/** The keys that carry the link at `linkPath` with the exact text `text`. */
export function encodeLink(linkPath: readonly string[], text: string, entries: ReadonlySet<string>): { 'symlink path': string[]; 'symlink target'?: string } {
  const resolved = resolveInTree(linkPath.slice(0, -1), text)
  const inTree = resolved !== null && entries.has(resolved.join('/'))
  const named = text.split('/').filter((c) => c !== '')
  const components = inTree ? resolved : named.length > 0 ? named : ['.']
  return linkText(linkPath, components, entries) === text ? { 'symlink path': components } : { 'symlink path': components, 'symlink target': text }
}
