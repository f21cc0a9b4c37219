import { parentPort } from 'node:worker_threads'
import type { HashJob } from './hashPool.js'
import { PieceJobs } from './pieceJobs.js'

const jobs = new PieceJobs()

parentPort!.on('message', (job: HashJob) => {
  const { reply, transfer } = jobs.run(job)
  parentPort!.postMessage(reply, transfer)
})
