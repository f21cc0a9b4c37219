import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_PIPELINE, PipelineDepth, STANDARD_CLIENT_PIPELINE } from '../src/swarm/pipeline.js'

const opts = { ...DEFAULT_PIPELINE, initial: 64, min: 16, max: 500, targetQueueMs: 500 }

function feed(p: PipelineDepth, bytesPerSecond: number, seconds: number, start = 0): void {
  for (let t = start; t < start + seconds * 1000; t += 10) p.received((bytesPerSecond * 10) / 1000, t)
}

test('the depth follows the measured rate: half a second of blocks in flight', () => {
  const p = new PipelineDepth(opts, 0)
  assert.equal(p.depth, 64)
  feed(p, 16 * 1024 * 100, 2) // 100 blocks/s
  assert.equal(p.depth, 50)
  feed(p, 16 * 1024 * 1000, 2, 2000) // a fast link
  assert.equal(p.depth, 500)
  feed(p, 16 * 1024, 2, 4000) // a trickle
  assert.equal(p.depth, 16)
})

test('never above what the peer says it queues (reqq)', () => {
  const p = new PipelineDepth(opts, 0, 250)
  feed(p, 16 * 1024 * 1000, 2)
  assert.equal(p.depth, 250)
  const small = new PipelineDepth(opts, 0, 10)
  assert.equal(small.depth, 10)
  feed(small, 16 * 1024, 2)
  assert.equal(small.depth, 10, 'the floor never overrides the peer\'s limit')
})

test('a standard client that sends in bursts (all that is asked, every half second) is not held to its first rate', () => {
  const p = new PipelineDepth(STANDARD_CLIENT_PIPELINE, 0)
  const blocksPerSecond: number[] = []
  for (let t = 0; t < 3000; t += 500) {
    // One burst each half second: every request then in flight.
    const burst = p.depth
    for (let i = 0; i < burst; i++) p.received(DEFAULT_PIPELINE.blockLength, t + 250 + i / burst)
    blocksPerSecond.push(burst * 2)
  }
  assert.equal(p.depth, DEFAULT_PIPELINE.max)
  assert.equal(blocksPerSecond.at(-1), 2 * DEFAULT_PIPELINE.max, `blocks/s per half second: ${blocksPerSecond.join(' ')}`)
})

