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
  hostsNotDone: 10,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** An error meant for the operator: printed as one line, no stack, with a chosen exit code. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue = ExitCode.failure) {
    super(message)
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
