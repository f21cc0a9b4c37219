import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type net from 'node:net'
import tls from 'node:tls'
import { ExitCode, UserError, fsError } from '../errors.js'
import type { Logger } from '../log.js'
import { parseInfo, type Metainfo } from '../torrent/metainfo.js'
import { certificateCovers, certificateNames } from './certNames.js'
import { plainTransport, type Dial, type PeerTransport } from './transport.js'
import { connectTlsPeer, sourceFor } from './socketInput.js'
import { HANDSHAKE_TIMEOUT_MS } from './wire.js'

/**
 * SSL torrents as libtorrent defines them (manual, "SSL torrents"): the torrent's info dictionary holds a CA
 * certificate (`ssl-cert`); every peer connection is TLS (the system's OpenSSL through node:tls), the dialing
 * side names the info hash (hex) as SNI, and both sides present a certificate that the CA signed and whose
 * names cover the torrent (certNames.ts). A peer that fails any of this is refused before a byte of BitTorrent.
 */

/** This peer's certificate and key (PEM), from --cert and --key. */
export interface PeerIdentity {
  cert: string
  key: string
  /** Where they came from, for messages. */
  certPath: string
}

/** Reads --cert and --key; the key must be the certificate's. */
export async function readIdentity(certPath: string, keyPath: string): Promise<PeerIdentity> {
  const [cert, key] = await Promise.all([certPath, keyPath].map((p) => readFile(p, 'utf8').catch((err) => { throw fsError(err, p) })))
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert!)
  } catch {
    throw new UserError(`${certPath} is not a PEM certificate`, ExitCode.usage)
  }
  let matches: boolean
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key!))
  } catch {
    throw new UserError(`${keyPath} is not a PEM private key`, ExitCode.usage)
  }
  if (!matches) throw new UserError(`${keyPath} is not the key of ${certPath}`, ExitCode.usage)
  return { cert: cert!, key: key!, certPath }
}

/** Reads make-torrent's --ca: one CA certificate, stored as PEM text in the torrent. */
export async function readCaCertificate(path: string): Promise<string> {
  const pem = await readFile(path, 'utf8').catch((err) => { throw fsError(err, path) })
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(pem)
  } catch {
    throw new UserError(`${path} is not a PEM certificate`, ExitCode.usage)
  }
  if (!x509.ca) throw new UserError(`${path} is not a CA certificate (basicConstraints CA:TRUE)`, ExitCode.usage)
  return x509.toString()
}

/** Why the certificate does not vouch for a peer of `meta` (signed by its CA, covering its name), or null. */
function unvouched(cert: X509Certificate, meta: Pick<Metainfo, 'sslCert' | 'name'>): string | null {
  let ca: X509Certificate
  try {
    ca = new X509Certificate(meta.sslCert!)
  } catch {
    return "the torrent's ssl-cert is not a certificate"
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return "certificate not signed by the torrent's CA"
  if (!certificateCovers(certificateNames(cert.toLegacyObject()), meta.name)) return "certificate names do not cover the torrent's name"
  return null
}

/**
 * An SSL torrent needs --cert and --key, with a certificate its CA signed for it; another torrent must not get
 * them (the operator meant a protection that is not there). Checked before the destination is touched.
 */
export function assertIdentityFits(meta: Metainfo, identity: PeerIdentity | undefined): void {
  if (meta.sslCert === undefined) {
    if (identity) throw new UserError('--cert and --key are for SSL torrents (made with make-torrent --ca); this torrent is not one', ExitCode.usage)
    return
  }
  if (!identity) throw new UserError(`torrent ${meta.infoHashHex} is an SSL torrent: its peers need --cert and --key (a certificate signed by its CA)`, ExitCode.usage)
  const why = unvouched(new X509Certificate(identity.cert), meta)
  if (why) throw new UserError(`${identity.certPath}: ${why}`, ExitCode.usage)
}

/** The transport of a torrent: TLS for an SSL torrent, plain TCP otherwise. */
export function transportFor(meta: Metainfo, identity: PeerIdentity | undefined, logger: Logger): PeerTransport {
  assertIdentityFits(meta, identity)
  return identity ? tlsTransport(meta, identity, logger) : plainTransport
}

/** OpenSSL's short reason ("peer did not return a certificate"), not its whole error stack. */
function reasonOf(err: Error & { reason?: string; code?: string }): string {
  return err.reason ?? err.code ?? err.message
}

function tlsTransport(meta: Metainfo, identity: PeerIdentity, logger: Logger): PeerTransport {
  const options = { ca: meta.sslCert, cert: identity.cert, key: identity.key, minVersion: 'TLSv1.2' } as const
  const context = tls.createSecureContext(options)
  const refused = (peer: string, reason: string) => logger.warn({ peer, reason }, 'refused TLS peer')
  const covers = (cert: { subject?: Record<string, string | string[] | undefined>; subjectaltname?: string }) =>
    certificateCovers(certificateNames(cert), meta.name)
  // Connections are handed to a server that never listens (Node's documented way to inject a socket): a bare
  // TLSSocket would not check the client's certificate at all. The check is ours below, so that it is logged.
  const server = tls.createServer({
    ...options, requestCert: true, rejectUnauthorized: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    SNICallback: (name, cb) => (name === meta.infoHashHex ? cb(null, context) : cb(new Error(`SNI ${name.slice(0, 64)} is not this torrent`))),
  })
  // Set by `accept`: a transport serves one swarm, so every accepted connection goes to the same place.
  let deliver: (socket: net.Socket) => void = (socket) => socket.destroy()
  const peerOf = (s: net.Socket) => `${s.remoteAddress}:${s.remotePort}`
  server.on('tlsClientError', (err, socket) => {
    refused(peerOf(socket), reasonOf(err))
    socket.destroy()
  })
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const refuse = (reason: string) => {
      refused(peerOf(socket), reason)
      socket.destroy()
    }
    if (Object.keys(socket.getPeerCertificate()).length === 0) return refuse('no certificate')
    if (!socket.authorized) return refuse(String(socket.authorizationError))
    // A client that sent no SNI never met the callback above.
    if ((socket as tls.TLSSocket & { servername?: string | false }).servername !== meta.infoHashHex) return refuse('no SNI naming the torrent')
    if (!covers(socket.getPeerCertificate())) return refuse("certificate names do not cover the torrent's name")
    deliver(socket)
  })
  return {
    connect(ip, port, timeoutMs, ready, localAddress) {
      const peer = `${ip}:${port}`
      let stage: 'tcp' | 'tls' | 'secure' = 'tcp'
      const socket = connectTlsPeer({
        host: ip, port, timeout: timeoutMs, localAddress: sourceFor(ip, localAddress), servername: meta.infoHashHex, secureContext: context, rejectUnauthorized: true,
        // The chain is OpenSSL's to check against the torrent's CA; the names are libtorrent's rule, not a host's.
        checkServerIdentity: (_host, cert) => (covers(cert) ? undefined : new Error("certificate names do not cover the torrent's name")),
      })
      socket.once('connect', () => { stage = 'tls' })
      socket.once('secureConnect', () => {
        stage = 'secure'
        ready(socket)
      })
      // Network failures are the swarm's to log; a peer that fails the TLS handshake is named here.
      socket.on('error', (err) => { if (stage === 'tls') refused(peer, reasonOf(err)) })
      return socket
    },
    accept(raw, ready) {
      deliver = ready
      server.emit('connection', raw)
    },
  }
}

/**
 * Dialing for a magnet link's metadata with our certificate: the CA is in the metadata we do not have yet, so
 * the remote's certificate is checked once the metadata came (its hash, the info hash, covers `ssl-cert`).
 * The remote checks ours before it sends anything, so the metadata only crosses authenticated connections.
 */
export function metadataDialer(infoHashHex: string, identity: PeerIdentity): {
  dial: Dial
  vouches: (socket: net.Socket, infoBytes: Uint8Array) => string | null
} {
  const context = tls.createSecureContext({ cert: identity.cert, key: identity.key, minVersion: 'TLSv1.2' })
  return {
    dial(ip, port, timeoutMs, ready, localAddress) {
      const socket = connectTlsPeer({ host: ip, port, timeout: timeoutMs, localAddress: sourceFor(ip, localAddress), servername: infoHashHex, secureContext: context, rejectUnauthorized: false })
      socket.once('secureConnect', () => ready(socket))
      return socket
    },
    vouches(socket, infoBytes) {
      let meta: Metainfo
      try {
        meta = parseInfo(infoBytes, [])
      } catch {
        return null // not a torrent at all: the caller's parse names the problem
      }
      if (meta.sslCert === undefined) return "the metadata is not an SSL torrent's"
      const cert = (socket as tls.TLSSocket).getPeerX509Certificate()
      return cert ? unvouched(cert, meta) : 'no certificate'
    },
  }
}
