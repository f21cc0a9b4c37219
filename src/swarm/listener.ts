import net from 'node:net'
import { ExitCode, UserError } from '../cli/errors.js'

/**
 * The peer's TCP listener. It is opened before the torrent is known (a magnet peer must announce a port
 * while it fetches the metadata), so connections that arrive early wait here until a handler is set. They
 * wait paused, nothing read: the handler (a PeerTransport) may still wrap them in TLS.
 */
export class Listener {
  private handler: ((socket: net.Socket) => void) | null = null
  private readonly early: net.Socket[] = []

  private constructor(private readonly server: net.Server, readonly port: number) {
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
    return new Listener(server, (server.address() as net.AddressInfo).port)
  }

  onConnection(handler: (socket: net.Socket) => void): void {
    this.handler = handler
    for (const s of this.early.splice(0)) if (!s.destroyed) handler(s)
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
