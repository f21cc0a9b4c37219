import { readFile } from 'node:fs/promises'
import { ExitCode, UserError } from '../errors.js'

/** At most this many entries: the list is held in memory and checked on every announce. */
export const MAX_ALLOWED = 1_000_000

/**
 * Parses an allow list, like BitTornado's allowed_dir but as one file: one info hash per line (40 hex
 * digits), `#` starts a comment, blank lines are ignored. Returns lower-case hex hashes.
 * @throws UserError (usage) naming the first bad line.
 */
export function parseAllowList(text: string, source: string): Set<string> {
  const allowed = new Set<string>()
  const lines = text.split('\n')
  for (const [i, raw] of lines.entries()) {
    const hash = raw.replace(/#.*/, '').trim()
    if (hash === '') continue
    if (!/^[0-9a-fA-F]{40}$/.test(hash)) {
      const shown = hash.length > 50 ? `${hash.slice(0, 50)}…` : hash
      throw new UserError(`allow list ${source}, line ${i + 1}: expected a 40-hex-digit info hash, got ${JSON.stringify(shown)}`, ExitCode.usage)
    }
    allowed.add(hash.toLowerCase())
    if (allowed.size > MAX_ALLOWED) throw new UserError(`allow list ${source}: more than ${MAX_ALLOWED} info hashes`, ExitCode.usage)
  }
  return allowed
}

export async function loadAllowList(path: string): Promise<Set<string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UserError(`cannot read allow list ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.usage)
  }
  return parseAllowList(text, path)
}
