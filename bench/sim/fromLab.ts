import { readFile } from 'node:fs/promises'
import type { LabReport, SitesReport } from '../report.js'
import { mbit } from '../units.js'
import { DEFAULT_SIM, type SimConfig } from './simulation.js'

/** What a lab run of murder measured, for the simulator to be compared with. */
export interface Measured {
  allDoneS: number
  sourceCopies: number
  /** Two-site lab: copies on the WAN toward site b (L2 framing included, ~3% over the payload). */
  wanCopies?: number
  /** CPU seconds of the targets and the source, per MB the targets received on the wire. */
  cpuPerMB: number
  /** The last target's start-up (spawn to "destination checked"), s. */
  startupS: number
}

export type AnyLab = LabReport | SitesReport

export async function readLab(path: string): Promise<AnyLab> {
  const report = JSON.parse(await readFile(path, 'utf8')) as AnyLab
  if (report.kind !== 'lab' && report.kind !== 'sites') throw new Error(`${path}: not a lab or sites report of the bench`)
  return report
}

/** Every murder scenario of a report that completed. */
export function measured(report: AnyLab): Measured[] {
  const bytes = report.params.payloadBytes
  return report.scenarios.filter((s) => s.scenario === 'murder' && s.seconds !== null).map((s) => {
    const cpu = s.hosts.reduce((sum, h) => sum + Number(h.extra?.['cpuSeconds'] ?? 0), 0) + Number(s.extra['sourceCpuSeconds'] ?? 0)
    const rx = s.hosts.reduce((sum, h) => sum + h.rxBytes, 0)
    return {
      allDoneS: s.seconds!,
      sourceCopies: Number(s.extra['seedUploaded'] ?? 0) / bytes,
      wanCopies: s.wan ? s.wan.aToB / bytes : undefined,
      cpuPerMB: cpu / (rx / 1e6),
      startupS: Math.max(...s.hosts.map((h) => Number(h.extra?.['startupSeconds'] ?? 0))),
    }
  })
}

/** The lab's configuration as the simulator takes it, with the lab machine's CPU and start-up from `calibration`. */
export function configOfLab(report: AnyLab, calibration: Measured[]): SimConfig {
  const p = report.params
  const murder = report.scenarios.find((s) => s.scenario === 'murder')
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const sites = report.kind === 'lab'
    ? [{ name: 'a', targets: report.params.n, wanRate: 0, wanDelayMs: 0 }]
    : [{ name: 'a', targets: report.params.nA, wanRate: mbit(report.params.wanRateMbit), wanDelayMs: report.params.wanDelayMs },
      { name: 'b', targets: report.params.nB, wanRate: mbit(report.params.wanRateMbit), wanDelayMs: report.params.wanDelayMs }]
  return {
    ...DEFAULT_SIM,
    sites,
    size: p.payloadBytes,
    pieceLength: Number(murder?.extra['pieceLength'] ?? DEFAULT_SIM.pieceLength),
    hostRate: mbit(p.rateMbit),
    sourceRate: mbit(p.sourceRateMbit),
    lanDelayMs: Math.max(0.05, p.delayMs),
    interval: p.trackerInterval ?? DEFAULT_SIM.interval,
    cpu: { cores: 2, secondsPerMB: mean(calibration.map((m) => m.cpuPerMB)) },
    startSpreadMs: 1000 * mean(calibration.map((m) => m.startupS)),
  }
}
