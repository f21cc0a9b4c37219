import type { Clock, Timer } from '../../src/swarm/clock.js'

/** A scheduled call; it is its own Timer, so scheduling allocates one object. */
class Event implements Timer {
  constructor(public fn: (() => void) | null) {}

  cancel(): void {
    this.fn = null
  }
}

/**
 * Simulated time for the swarm simulator: every engine of the run shares this clock, and `run` jumps from one
 * event to the next without waiting. Between two instants, the event loop runs once (setImmediate), so the
 * promises the engines chained (piece verification, cache reads) settle before time moves on, as they would
 * within the microseconds real I/O takes.
 */
export class SimClock implements Clock {
  private t = 0
  /**
   * Events by instant, in the order they were scheduled, and the instants in a heap: a large run has a few
   * thousand instants but millions of events (a heap of events was a twentieth of its run time).
   */
  private readonly due = new Map<number, Event[]>()
  private readonly instants: number[] = []
  /** Events run so far. */
  executed = 0

  now(): number {
    return this.t
  }

  after(ms: number, fn: () => void): Timer {
    const at = this.t + Math.max(0, ms)
    const ev = new Event(fn)
    const events = this.due.get(at)
    if (events) events.push(ev)
    else {
      this.due.set(at, [ev])
      this.push(at)
    }
    return ev
  }

  every(ms: number, fn: () => void): Timer {
    let current: Timer
    const tick = () => {
      current = this.after(ms, tick)
      fn()
    }
    current = this.after(ms, tick)
    return { cancel: () => current.cancel() }
  }

  soon(fn: () => void): void {
    this.after(0, fn)
  }

  /** Runs events until `done()` holds or time passes `untilMs`; resolves with the time reached. */
  async run(done: () => boolean, untilMs: number): Promise<number> {
    while (!done()) {
      const next = this.instants[0]
      if (next === undefined || next > untilMs) break
      this.t = next
      // Everything due at this instant, including what those events schedule for it.
      const events = this.due.get(next)!
      for (let i = 0; i < events.length; i++) {
        const fn = events[i]!.fn
        if (fn) {
          this.executed++
          fn()
        }
      }
      this.due.delete(next)
      this.pop()
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    return this.t
  }

  private push(at: number): void {
    const h = this.instants
    h.push(at)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (h[p]! <= at) break
      h[i] = h[p]!
      i = p
    }
    h[i] = at
  }

  private pop(): void {
    const h = this.instants
    const last = h.pop()!
    if (h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && h[r]! < h[l]! ? r : l
      if (h[c]! >= last) break
      h[i] = h[c]!
      i = c
    }
    h[i] = last
  }
}
