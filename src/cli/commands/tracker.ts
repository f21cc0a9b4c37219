import type { Logger } from '../../log.js'
import { startTracker } from '../../tracker/server.js'
import { untilSignal } from '../session.js'

export interface TrackerOptions {
  port: number
  host?: string
  interval: number
}

export async function trackerCommand(opts: TrackerOptions, logger: Logger): Promise<void> {
  const tracker = await startTracker({ port: opts.port, host: opts.host, interval: opts.interval, logger })
  const sig = await untilSignal()
  logger.info({ signal: sig }, 'tracker stopping')
  await tracker.close()
}
