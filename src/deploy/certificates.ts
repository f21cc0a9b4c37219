import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { UserError } from '../cli/errors.js'

// node:crypto makes keys but not X.509 certificates: the `openssl` command (the system's OpenSSL, which
// node:tls uses too) makes them. P-256 keys: small, fast, and every TLS 1.2/1.3 peer (libtorrent too) has them.
const run = promisify(execFile)

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args)
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    throw new UserError(e.code === 'ENOENT' ? 'the openssl command is needed to make certificates (Debian package openssl)' : `openssl ${args[0]}: ${e.stderr?.trim() || e.message}`)
  }
}

export interface KeyPair {
  /** PEM files. */
  cert: string
  key: string
}

/** A CA certificate (self-signed, CA:TRUE) and its key, valid for `days`, as `<stem>.pem` and `<stem>.key` in `dir`. */
export async function makeCa(dir: string, stem: string, subject: string, days: number): Promise<KeyPair> {
  const pair = { cert: join(dir, `${stem}.pem`), key: join(dir, `${stem}.key`) }
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', pair.key, '-out', pair.cert,
    '-days', String(days), '-subj', `/CN=${subject}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return pair
}

/**
 * A key and a certificate signed by `ca` for a peer, whose subjectAltName DNS names are `names` (libtorrent
 * matches them against the torrent's name; "*" covers every torrent of the CA), as `<stem>.pem`/`.key`.
 */
export async function issueCertificate(ca: KeyPair, dir: string, stem: string, names: readonly string[], days: number): Promise<KeyPair> {
  const pair = { cert: join(dir, `${stem}.pem`), key: join(dir, `${stem}.key`) }
  const csr = join(dir, `${stem}.csr`)
  const ext = join(dir, `${stem}.ext`)
  await writeFile(ext, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=CA:FALSE\n`)
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', `/CN=${stem}`])
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', pair.cert, '-days', String(days), '-extfile', ext])
  return pair
}
