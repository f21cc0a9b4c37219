import { checkId, parseQuery } from './query.js'

/**
 * The info hashes a scrape asks about (BEP 48: `info_hash` may repeat); an empty list means all torrents.
 * @throws TrackerRequestError on malformed encoding or a hash that is not 20 bytes.
 */
export function parseScrape(query: string): Uint8Array[] {
  return (parseQuery(query).get('info_hash') ?? []).map((hash) => checkId('info_hash', hash))
}
