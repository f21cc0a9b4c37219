/** A pending timer; `cancel` is harmless after it fired. */
export interface Timer {
  cancel(): void
}

/**
 * Time as the swarm engine sees it: milliseconds from an arbitrary origin, and timers. The commands run on the
 * wall clock; the simulator (bench/sim) runs many engines on one simulated clock, without waiting.
 */
export interface Clock {
  now(): number
  after(ms: number, fn: () => void): Timer
  every(ms: number, fn: () => void): Timer
  /** Runs `fn` once the current event's work is done (setImmediate): to batch what one event triggers. */
  soon(fn: () => void): void
}

/** Timers do not keep the process alive: the listener and the sockets do, until the command closes them. */
export const wallClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms).unref()
    return { cancel: () => clearTimeout(t) }
  },
  every(ms, fn) {
    const t = setInterval(fn, ms).unref()
    return { cancel: () => clearInterval(t) }
  },
  soon: (fn) => void setImmediate(fn),
}
