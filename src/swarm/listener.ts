import dgram from 'node:dgram'
import net from 'node:net'
import { ExitCode, UserError } from '../errors.js'
import { dialBackFor, utpResetFor } from './utpReset.js'

/**
 * The peer's TCP listener. It is opened before the torrent is known (a magnet peer must announce a port
 * while it fetches the metadata), so connections that arrive early wait here until a handler is set. They
 * wait paused, nothing read: the handler (a PeerTransport) may still wrap them in TLS.
 */
export class Listener {
  private handler: ((socket: net.Socket) => void) | null = null
  private readonly early: net.Socket[] = []
  private synHandler: ((ip: string, port: number) => void) | null = null

  private constructor(private readonly server: net.Server, private readonly utp: dgram.Socket | null, readonly port: number) {
    server.on('connection', (socket) => {
      if (this.handler) this.handler(socket)
      else this.early.push(socket)
    })
    utp?.on('message', (msg, from) => {
      const reset = utpResetFor(msg, Number(process.hrtime.bigint() / 1000n))
      if (reset) utp.send(reset, from.port, from.address)
      else if (dialBackFor(msg)) this.synHandler?.(unmapped(from.address), from.port)
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
    return new Listener(server, await utpSocket(bound, host), bound)
  }

  onConnection(handler: (socket: net.Socket) => void): void {
    this.handler = handler
    for (const s of this.early.splice(0)) if (!s.destroyed) handler(s)
  }

  /** Called with the address of a uTP SYN left unanswered (see dialBackFor); before the torrent is known, none. */
  onUtpSyn(handler: (ip: string, port: number) => void): void {
    this.synHandler = handler
  }

  close(): Promise<void> {
    this.utp?.close()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** An IPv4 peer as the dual-stack socket reports it (`::ffff:10.0.0.1`), as the tracker names it. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address
}

/**
 * A UDP socket on the listening port for the uTP SYNs of clients that try uTP first (see utpReset.ts).
 * Without it (the port taken for UDP by something else) libtorrent falls back to TCP after its uTP timeout,
 * and Transmission is not dialled back.
 */
function utpSocket(port: number, host: string | undefined): Promise<dgram.Socket | null> {
  const socket = dgram.createSocket(host !== undefined && net.isIPv4(host) ? 'udp4' : 'udp6')
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
