import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { UserError } from '../errors.js'

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

/**
 * Certificates start an hour before they are made: a host whose clock lags the source's would otherwise find
 * them "not yet valid". `openssl req -x509` cannot backdate (before OpenSSL 3.4), `openssl ca` can.
 */
const BACKDATE_MS = 60 * 60 * 1000

/** OpenSSL's UTCTime, YYMMDDHHMMSSZ. */
function utcTime(ms: number): string {
  return new Date(ms).toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z')
}

/** A key and a CSR, then `openssl ca` signs it (with `ca`, or itself) for the validity window. */
async function sign(dir: string, stem: string, subject: string, ext: string, days: number, ca: KeyPair | null): Promise<KeyPair> {
  const pair = { cert: join(dir, `${stem}.pem`), key: join(dir, `${stem}.key`) }
  const csr = join(dir, `${stem}.csr`)
  const config = join(dir, `${stem}.cnf`)
  const db = join(dir, `${stem}.index`)
  await writeFile(db, '')
  await writeFile(config, [
    '[ca]', 'default_ca = d', '[d]', `database = ${db}`, `new_certs_dir = ${dir}`, 'rand_serial = yes', 'default_md = sha256',
    'policy = p', 'unique_subject = no', 'email_in_dn = no', '[p]', 'commonName = supplied', '[x]', ext, '',
  ].join('\n'))
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', `/CN=${subject}`])
  const now = Date.now()
  await openssl(['ca', '-batch', '-notext', '-config', config, '-extensions', 'x', '-in', csr, '-out', pair.cert,
    '-startdate', utcTime(now - BACKDATE_MS), '-enddate', utcTime(now + days * 86_400_000),
    ...(ca ? ['-cert', ca.cert, '-keyfile', ca.key] : ['-selfsign', '-keyfile', pair.key])])
  return pair
}

/** A CA certificate (self-signed, CA:TRUE) and its key, valid for `days`, as `<stem>.pem` and `<stem>.key` in `dir`. */
export function makeCa(dir: string, stem: string, subject: string, days: number): Promise<KeyPair> {
  return sign(dir, stem, subject, 'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign', days, null)
}

/**
 * A key and a certificate signed by `ca` for a peer, whose subjectAltName DNS names are `names` (libtorrent
 * matches them against the torrent's name; "*" covers every torrent of the CA), as `<stem>.pem`/`.key`.
 */
export function issueCertificate(ca: KeyPair, dir: string, stem: string, names: readonly string[], days: number): Promise<KeyPair> {
  const san = names.map((n) => `DNS:${n}`).join(',')
  return sign(dir, stem, stem, `basicConstraints = CA:FALSE\nsubjectAltName = ${san}`, days, ca)
}
