/** Exit codes documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  badTorrent: 3,
  destination: 4,
  tracker: 5,
  diskFull: 6,
  mismatch: 7,
  stalled: 8,
  listen: 9,
  maxDelete: 10,
  hostsNotDone: 11,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** Characters kept of a long word (a path, mostly): its start and its end, which name it best. */
const WORD_HEAD = 32
const WORD_TAIL = 48
const MAX_LINE = 400

/**
 * One readable line: no line breaks, any word (a path) longer than 80 characters shortened in its middle, and
 * the whole at most 400 characters. A destination past the OS's path limit used to make an 8,355-character line.
 */
export function readable(message: string): string {
  const words = message.replace(/\s*[\r\n]+\s*/g, ' ').replace(/\S{81,}/g, (w) => `${w.slice(0, WORD_HEAD)}…${w.slice(-WORD_TAIL)}`)
  return words.length <= MAX_LINE ? words : `${words.slice(0, MAX_LINE / 2)}…${words.slice(-MAX_LINE / 2 + 1)}`
}

/** An error meant for the operator: printed as one readable line, no stack, with a chosen exit code. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue = ExitCode.failure) {
    super(readable(message))
    this.name = 'UserError'
  }
}

/** Maps a Node system error to a UserError naming the path, so disk problems never surface as stack traces. */
export function fsError(err: unknown, what: string): UserError {
  const e = err as NodeJS.ErrnoException
  if (e instanceof UserError) return e
  switch (e?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new UserError(`disk full while writing ${what}`, ExitCode.diskFull)
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new UserError(`permission denied: ${what}`, ExitCode.destination)
    case 'ENOENT':
      return new UserError(`no such file or directory: ${what}`, ExitCode.failure)
    case 'ENAMETOOLONG':
      // Node's message repeats the path; the operator needs it once.
      return new UserError(`path too long for the file system: ${what}`, ExitCode.failure)
    default:
      return new UserError(`${what}: ${e?.message ?? String(err)}`, ExitCode.failure)
  }
}

/** Runs a synchronous file system call, turning its failure into the UserError that names `what`. */
export function fsSync<T>(what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw fsError(err, what)
  }
}
