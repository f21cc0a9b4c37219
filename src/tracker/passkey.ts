import { timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ExitCode, UserError } from '../errors.js'

/** Sent for any announce or scrape without a valid passkey: the same words whatever was wrong, so it tells nothing. */
export const PASSKEY_REQUIRED = 'passkey required'

/** Characters that travel in a URL path unescaped, and enough of them that guessing is hopeless. */
const PASSKEY = /^[A-Za-z0-9._~-]{16,128}$/

/**
 * Parses a key file: one passkey a line (several: a key can be rotated without a gap), `#` comments.
 * @throws UserError (usage) naming the first bad line, or an empty file.
 */
export function parsePasskeys(text: string, source: string): string[] {
  const keys: string[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const key = raw.replace(/#.*/, '').trim()
    if (key === '') continue
    if (!PASSKEY.test(key)) throw new UserError(`key file ${source}, line ${i + 1}: a passkey is 16 to 128 letters, digits, ".", "_", "~" or "-"`, ExitCode.usage)
    keys.push(key)
  }
  if (keys.length === 0) throw new UserError(`key file ${source} holds no passkey`, ExitCode.usage)
  return keys
}

export async function loadPasskeys(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read key file ${path}: ${err.code ?? err.message}`, ExitCode.usage)
  })
  return parsePasskeys(text, path)
}

/**
 * The request path behind a passkey, as private trackers take it (`/<passkey>/announce`, so standard clients
 * work unchanged): the rest of the path when the first segment is a passkey, else null. Every key is compared
 * in constant time, so the time taken tells nothing about how much of a guess was right.
 */
export function unlockPath(path: string, keys: readonly string[]): string | null {
  const slash = path.indexOf('/', 1)
  if (!path.startsWith('/') || slash < 0) return null
  const given = Buffer.from(path.slice(1, slash))
  let match = false
  for (const key of keys) {
    const k = Buffer.from(key)
    // timingSafeEqual needs equal lengths; comparing with itself keeps the time the same on a length mismatch.
    match = (k.length === given.length ? timingSafeEqual(k, given) : !timingSafeEqual(k, k)) || match
  }
  return match ? path.slice(slash) : null
}
