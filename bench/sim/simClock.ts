import type { Clock, Timer } from '../../src/swarm/clock.js'

/** A scheduled call; it is its own Timer, so scheduling allocates one object. */
class Event implements Timer {
  constructor(readonly at: number, readonly seq: number, public fn: (() => void) | null) {}

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
  private seq = 0
  private readonly heap: Event[] = []
  /** Events run so far. */
  executed = 0

  now(): number {
    return this.t
  }

  after(ms: number, fn: () => void): Timer {
    const ev = new Event(this.t + Math.max(0, ms), this.seq++, fn)
    this.push(ev)
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
      const next = this.heap[0]
      if (!next || next.at > untilMs) break
      this.t = next.at
      // Everything due at this instant, including what those events schedule for it.
      while (this.heap.length > 0 && this.heap[0]!.at === this.t) {
        const fn = this.pop().fn
        if (fn) {
          this.executed++
          fn()
        }
      }
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    return this.t
  }

  private push(ev: Event): void {
    const h = this.heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(ev, h[p]!)) break
      h[i] = h[p]!
      i = p
    }
    h[i] = ev
  }

  private pop(): Event {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= h.length) break
        const r = l + 1
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l
        if (!before(h[c]!, last)) break
        h[i] = h[c]!
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
