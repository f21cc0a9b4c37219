import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Target } from './hostsFile.js'
import { HELLO, REMOTE_EXIT } from './remoteScript.js'

/** What a session learned from the peer's log lines, as they arrive. */
export interface PeerProgress {
  pieces?: number
  pieceCount?: number
  /** Verified bytes written. */
  downloaded?: number
  /** Block bytes received on the wire. */
  received?: number
  left?: number
  peers?: number
  done?: boolean
}

export type SessionEnd =
  | { kind: 'done' }
  | { kind: 'unreachable'; reason: string }
  | { kind: 'failed'; reason: string; code: number | null }
  | { kind: 'stopped' }

export interface SessionOptions {
  /** The ssh command and its options, before the destination. */
  ssh: readonly string[]
  target: Target
  remoteCommand: string
  /** Where the host's stderr (and stdout) go, line by line. */
  logFile: string
  /**
   * Called once the target said hello, with the source's address as it sees it and whether murder is in its
   * cache; resolves with the gzipped executable to push (null: none), once the peer may start.
   */
  onHello: (seenSource: string, cached: boolean) => Promise<Buffer | null>
  /** A secure deploy's secrets for this host (remoteScript's secretsBlock), sent after the executable. */
  secrets?: () => Promise<Buffer>
  onProgress: (p: PeerProgress) => void
  /** The peer is starting (what was to be pushed was written): the deploy may open the next session. */
  onStarted: () => void
}

/**
 * One ssh session to one target, running the remote side of src/deploy/remoteScript.ts: answers its hello
 * (pushing the executable if needed), follows the peer's JSON log lines for progress, and keeps them in
 * the host's log file. `stop()` ends the session's stdin, which makes the remote side stop the peer.
 */
export class HostSession {
  readonly ended: Promise<SessionEnd>
  private readonly child
  private stopping = false
  private sawHello = false
  private sawDone = false
  private lastError = ''
  /** lastError is a line that names the failure: later lines (a usage error's help) do not replace it. */
  private named = false
  /** Our side of the hello failed: the session ends as a failure, not as a stop. */
  private helloFailed = false

  constructor(private readonly o: SessionOptions) {
    const t = o.target
    const dest = t.user ? `${t.user}@${t.host}` : t.host
    this.child = spawn(o.ssh[0]!, [...o.ssh.slice(1), ...(t.port ? ['-p', String(t.port)] : []), '--', dest, o.remoteCommand], { stdio: ['pipe', 'pipe', 'pipe'] })
    const log = createWriteStream(o.logFile, { flags: 'a' })
    // A host's log that cannot be written (a full disk here) costs its log, not the deploy.
    log.on('error', () => undefined)
    // The remote may end before what we write reaches it (a refused push): the exit tells, not EPIPE.
    this.child.stdin.on('error', () => undefined)
    createInterface({ input: this.child.stdout }).on('line', (line) => this.stdoutLine(line, log))
    createInterface({ input: this.child.stderr }).on('line', (line) => this.stderrLine(line, log))
    this.ended = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.lastError = `cannot run ${o.ssh[0]}: ${err.message}`
      })
      this.child.once('close', (code) => {
        log.end()
        resolve(this.outcome(code))
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Ends the session: the remote side stops the peer and exits. */
  stop(): void {
    this.stopping = true
    this.child.stdin.end()
  }

  /** Last resort once stop() was not enough in time: kills the local ssh client (the remote ends with it). */
  kill(): void {
    this.child.kill('SIGKILL')
  }

  private stdoutLine(line: string, log: NodeJS.WritableStream): void {
    log.write(`[stdout] ${line}\n`)
    if (!this.sawHello && line.startsWith(`${HELLO} `)) {
      this.sawHello = true
      const [, state, client] = line.split(' ')
      void Promise.all([this.o.onHello(client ?? '', state === 'cached'), this.o.secrets?.()]).then(([push, secrets]) => {
        if (this.stopping) return
        const parts = [Buffer.from(`${push ? push.length : 0}\n`), ...(push ? [push] : []), ...(secrets ? [secrets] : [])]
        parts.forEach((part, i) => this.child.stdin.write(part, i === parts.length - 1 ? () => this.o.onStarted() : undefined))
      }, (err: Error) => {
        // Preparing this host failed here (a certificate, the executable's compression): it is named, and retried.
        this.lastError = `cannot prepare the host: ${err.message}`
        this.named = this.helloFailed = true
        this.stop()
      })
    } else if (line === 'Done and done') {
      this.sawDone = true
      this.o.onProgress({ done: true })
    }
  }

  private stderrLine(line: string, log: NodeJS.WritableStream): void {
    log.write(`${line}\n`)
    if (!line.startsWith('{')) {
      // murder's one-line errors and commander's usage errors say why; the help text after a usage error does not.
      const names = /^(murder|error|ssh):/.test(line)
      if (names || (line.trim() !== '' && !this.named)) this.lastError = line.trim()
      this.named ||= names
      return
    }
    let j: Record<string, unknown>
    try {
      j = JSON.parse(line) as Record<string, unknown>
    } catch {
      return
    }
    const n = (k: string) => (typeof j[k] === 'number' ? j[k] as number : undefined)
    switch (j['msg']) {
      case 'destination checked':
        this.o.onProgress({ pieces: n('have'), pieceCount: n('pieces') })
        break
      case 'progress':
      case 'complete':
        this.o.onProgress({ pieces: n('pieces'), pieceCount: n('pieceCount'), downloaded: n('downloaded'), received: n('received'), left: n('left'), peers: n('peers') })
        break
      default:
        if ((n('level') ?? 0) >= 50 && typeof j['msg'] === 'string') this.lastError = j['msg']
    }
  }

  private outcome(code: number | null): SessionEnd {
    if (this.sawDone) return { kind: 'done' }
    if (this.helloFailed) return { kind: 'failed', reason: this.lastError, code }
    if (this.stopping) return { kind: 'stopped' }
    // ssh's own failures (no route, refused, host key, authentication) end with 255 before our hello.
    if (!this.sawHello) return { kind: 'unreachable', reason: this.lastError || `ssh exited with ${code}` }
    if (code === REMOTE_EXIT.noGo) return { kind: 'failed', reason: 'the session ended before the peer started', code }
    return { kind: 'failed', reason: this.lastError || `murder peer exited with ${code}`, code }
  }
}
