import dgram from 'node:dgram'
import net from 'node:net'
import { ExitCode, UserError } from '../errors.js'
import { utpResetFor } from './utpReset.js'

/**
 * The peer's TCP listener. It is opened before the torrent is known (a magnet peer must announce a port
 * while it fetches the metadata), so connections that arrive early wait here until a handler is set. They
 * wait paused, nothing read: the handler (a PeerTransport) may still wrap them in TLS.
 */
export class Listener {
  private handler: ((socket: net.Socket) => void) | null = null
  private readonly early: net.Socket[] = []

  private constructor(private readonly server: net.Server, private readonly utp: dgram.Socket | null, readonly port: number) {
    server.on('connection', (socket) => {
      if (this.handler) this.handler(socket)
      else this.early.push(socket)
    })
  }

  static async open(port: number, host?: string): Promise<Listener> {
    const server = net.createServer({ pauseOnConnect: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UserError(`cannot listen on port ${port}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`, ExitCode.listen)))
      server.listen(port, host, () => resolve())
    })
    const bound = (server.address() as net.AddressInfo).port
    return new Listener(server, await utpResetter(bound, host), bound)
  }

  onConnection(handler: (socket: net.Socket) => void): void {
    this.handler = handler
    for (const s of this.early.splice(0)) if (!s.destroyed) handler(s)
  }

  close(): Promise<void> {
    this.utp?.close()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/**
 * A UDP socket on the listening port that answers uTP SYNs with a reset (see utpResetFor). Without it (the
 * port taken for UDP by something else) clients fall back to TCP after their uTP timeout, as before.
 */
function utpResetter(port: number, host: string | undefined): Promise<dgram.Socket | null> {
  const socket = dgram.createSocket(host !== undefined && net.isIPv4(host) ? 'udp4' : 'udp6')
  socket.on('message', (msg, from) => {
    const reset = utpResetFor(msg, Number(process.hrtime.bigint() / 1000n))
    if (reset) socket.send(reset, from.port, from.address)
  })
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close()
      resolve(null)
    })
    socket.bind(port, host, () => {
      socket.removeAllListeners('error')
      socket.on('error', () => undefined) // a send to a vanished peer: nothing to do
      resolve(socket)
    })
  })
}
