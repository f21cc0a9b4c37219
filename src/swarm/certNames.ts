/** The names of a peer certificate that libtorrent matches against an SSL torrent's name. */
export interface CertificateNames {
  /** subjectAltName entries of type DNS. */
  dns: string[]
  /** The most specific (last) common name of the subject. */
  cn?: string
}

/**
 * DNS names of a subjectAltName as Node prints it: `DNS:a, IP Address:1.2.3.4, DNS:"b\u002c c"` (a value with
 * special characters is a JSON string).
 */
export function dnsNames(subjectAltName: string | undefined): string[] {
  const names: string[] = []
  for (const m of (subjectAltName ?? '').matchAll(/(?:^|, )([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    if (m[1] !== 'DNS') continue
    try {
      names.push(m[2]!.startsWith('"') ? JSON.parse(m[2]!) as string : m[2]!)
    } catch { /* not a name libtorrent could match either */ }
  }
  return names
}

/** The names of a certificate in Node's legacy form (`getPeerCertificate()`). */
export function certificateNames(cert: { subject?: Record<string, string | string[] | undefined>; subjectaltname?: string }): CertificateNames {
  const cn = cert.subject?.['CN']
  const last = Array.isArray(cn) ? cn[cn.length - 1] : cn
  return { dns: dnsNames(cert.subjectaltname), ...(last === undefined ? {} : { cn: last }) }
}

/**
 * libtorrent's rule (manual, "SSL torrents"): the certificate covers the torrent when a DNS subjectAltName, or
 * else its last common name, is the torrent's name byte for byte, or "*" (a certificate for every torrent of
 * the CA). A CA can so issue a peer certificate per torrent.
 */
export function certificateCovers(names: CertificateNames, torrentName: string): boolean {
  const match = (n: string) => n === '*' || n === torrentName
  return names.dns.some(match) || (names.cn !== undefined && match(names.cn))
}
