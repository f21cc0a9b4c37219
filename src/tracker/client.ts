import http from 'node:http'
import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { ExitCode, UserError } from '../errors.js'
import type { Logger } from '../log.js'
import { parseAnnounceResponse, TrackerFailure, type AnnounceResponse } from './announceResponse.js'
import { buildAnnounceUrl, shownTrackerUrl, type AnnounceParams } from './announceUrl.js'

export type { AnnounceParams, AnnounceResponse }

/** Tracker replies are tiny; the cap stops a broken or hostile tracker from exhausting memory. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024
const TOO_LARGE = `response larger than ${MAX_RESPONSE_BYTES} bytes`
const INITIAL_BACKOFF_MS = 250
const MAX_BACKOFF_MS = 5_000
const DEFAULT_ATTEMPT_TIMEOUT_MS = 5_000

/**
 * One HTTP announce. Errors carry no URL (callers add it): a refusal is a TrackerFailure,
 * anything else (network, timeout, HTTP status, malformed body) a plain Error.
 * Aborting `signal` rejects with the signal's reason.
 */
export async function announce(
  url: string,
  params: AnnounceParams,
  opts: { timeoutMs: number; signal?: AbortSignal; ca?: string },
): Promise<AnnounceResponse> {
  const protocol = new URL(url).protocol
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`unsupported tracker protocol ${protocol}`)
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
  try {
    return parseAnnounceResponse(await get(buildAnnounceUrl(url, params), protocol, signal, opts.ca))
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason
    if (timeout.aborted) throw new Error(`no response within ${opts.timeoutMs} ms`)
    throw err
  }
}

/**
 * GETs a tracker URL with node:http rather than fetch: fetch loads undici on first use, ~50 ms of CPU at
 * every peer's start, when 8 peers starting at once on 2 cores are what delays the first bytes.
 * Refuses a reply over MAX_RESPONSE_BYTES before buffering it.
 */
async function get(url: string, protocol: string, signal: AbortSignal, ca: string | undefined): Promise<Uint8Array> {
  const { request } = protocol === 'https:' ? https : http
  // A swarm's own CA (an SSL torrent's ssl-cert) is the tracker's whole identity: its certificate must chain to
  // that CA, whatever address it is reached at (a deploy's targets reach it at addresses no certificate lists).
  const trust = ca === undefined ? {} : { ca, checkServerIdentity: () => undefined }
  return new Promise((resolve, reject) => {
    const req = request(url, { signal, agent: false, ...trust }, (res) => {
      const fail = (message: string) => {
        res.destroy()
        reject(new Error(message))
      }
      if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd())
      if (Number(res.headers['content-length']) > MAX_RESPONSE_BYTES) return fail(TOO_LARGE)
      const chunks: Buffer[] = []
      let total = 0
      res.on('data', (chunk: Buffer) => {
        total += chunk.length
        if (total > MAX_RESPONSE_BYTES) return fail(TOO_LARGE)
        chunks.push(chunk)
      })
      res.on('end', () => resolve(Buffer.concat(chunks, total)))
      // A reply cut short ends in 'aborted' (an error) or just a close, by timing.
      const cut = () => reject(new Error('connection closed before the reply was complete'))
      res.on('error', cut)
      res.on('close', () => { if (!res.complete) cut() })
    })
    req.on('error', reject)
    req.end()
  })
}

export interface RetryOptions {
  /** Total time budget in ms across all trackers and retries. */
  deadlineMs: number
  logger: Logger
  signal?: AbortSignal
  /** Cap on a single attempt, so one hung tracker cannot eat the whole budget. Default 5 s. */
  attemptTimeoutMs?: number
  /** The CA an https tracker's certificate must chain to (default: the system's). */
  ca?: string
}

/**
 * Announces to the first tracker that answers: tries every URL in order (announce-list tiers
 * flattened), then backs off (250 ms doubling to 5 s) and goes round again until the deadline.
 * The response says which tracker gave it (`url`).
 * @throws UserError (ExitCode.tracker) naming the last tracker tried and its error.
 */
/** Less time than this left before the deadline: no new attempt. */
const MIN_ATTEMPT_MS = 100

export async function announceWithRetry(
  urls: readonly string[],
  params: AnnounceParams,
  opts: RetryOptions,
): Promise<AnnounceResponse & { url: string }> {
  if (urls.length === 0) throw new UserError('tracker unreachable: the torrent names no tracker', ExitCode.tracker)
  const deadline = performance.now() + opts.deadlineMs
  const attemptTimeoutMs = opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS
  let lastUrl = urls[0] as string
  let lastError = `no attempt within ${opts.deadlineMs} ms`
  // A tracker's own refusal says more than a later attempt cut short by the deadline: it is what gets reported.
  let refusal: { url: string; message: string } | null = null
  const unreachable = (): UserError => new UserError(
    `tracker unreachable: ${shownTrackerUrl(refusal?.url ?? lastUrl)}: ${refusal?.message ?? lastError}`, ExitCode.tracker)

  let attempted = false
  for (let backoff = INITIAL_BACKOFF_MS; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
    for (const url of urls) {
      const remaining = deadline - performance.now()
      // An attempt squeezed into the last milliseconds only replaces the real error with a timeout.
      if (remaining <= 0 || (attempted && remaining < MIN_ATTEMPT_MS)) throw unreachable()
      attempted = true
      try {
        return { ...(await announce(url, params, { timeoutMs: Math.ceil(Math.min(attemptTimeoutMs, remaining)), signal: opts.signal, ca: opts.ca })), url }
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason
        lastUrl = url
        lastError = (err as Error).message
        if (err instanceof TrackerFailure) refusal = { url, message: lastError }
        opts.logger.warn({ url: shownTrackerUrl(url), err: lastError }, 'tracker announce failed')
      }
    }
    const remaining = deadline - performance.now()
    if (remaining <= 0) throw unreachable()
    try {
      await sleep(Math.min(backoff, remaining), undefined, { signal: opts.signal })
    } catch (err) {
      throw opts.signal?.aborted ? opts.signal.reason : err
    }
  }
}
