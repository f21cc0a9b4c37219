/**
 * BEP 47 file attributes. Apart from metainfo.ts so that the hash worker, which gives a destination its
 * metadata, loads these and not the torrent parser (bencode, SHA-1) with them.
 */

export function isPadding(file: { readonly attr: string }): boolean {
  return file.attr.includes('p')
}

export function isSymlink(file: { readonly attr: string }): boolean {
  return file.attr.includes('l')
}
