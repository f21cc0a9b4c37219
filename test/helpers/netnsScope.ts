import { after } from 'node:test'
import { destroyNamespaces } from '../../bench/netns.js'
import { killAll } from '../../bench/proc.js'
import { cleanup } from './tree.js'

/**
 * Namespaces, processes and folders of one test file, removed after its tests and, as a last resort, when the
 * process exits: a lab must not outlive the run that made it.
 */
export function netnsScope(stem: string): { prefix: string; dirs: string[]; teardown: () => Promise<void> } {
  const prefix = `${stem}${process.pid}`
  const dirs: string[] = []
  // The trailing dash: never touch another run's namespaces whose pid starts with ours.
  const teardown = async () => {
    await killAll()
    destroyNamespaces(`${prefix}-`)
    await cleanup(...dirs.splice(0))
  }
  after(teardown)
  process.on('exit', () => destroyNamespaces(`${prefix}-`))
  return { prefix, dirs, teardown }
}
