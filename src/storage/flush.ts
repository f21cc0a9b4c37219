import { execFile } from 'node:child_process'
import { UserError } from '../errors.js'

/**
 * Flushes the file system holding `path` to disk (syncfs(2), through coreutils `sync -f`): the pieces were
 * written by worker threads through descriptors since closed, so syncing the ones still open would miss some.
 */
export function flushFileSystem(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', path], (err, _stdout, stderr) => {
      if (err) reject(new UserError(`flushing ${path} to disk failed: ${stderr.trim() || err.message}`))
      else resolve()
    })
  })
}
