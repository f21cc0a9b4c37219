/** libtorrent (Debian python3-libtorrent, which .ci/run installs) driven by ltclient.py: see that file. */
import { fileURLToPath } from 'node:url'
import { start, type Proc } from './proc.js'

const SCRIPT = fileURLToPath(new URL('../../../bench/scenarios/ltclient.py', import.meta.url))
// Debian's interpreter, the one python3-libtorrent is built for (a python3 earlier on the PATH may not see it).
const PYTHON = '/usr/bin/python3'

export function libtorrent(args: string[]): Proc {
  return start(PYTHON, [SCRIPT, ...args])
}
