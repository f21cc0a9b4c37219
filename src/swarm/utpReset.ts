/**
 * libtorrent (qBittorrent) tries uTP (BEP 29, over UDP) before TCP and waits about 3.4 s for an answer that
 * murder, which speaks TCP only, never gave: every connection to a murder peer cost that. A reset answering
 * the SYN on the listening port makes it fall back to TCP at once. Pure: the listener does the UDP.
 */

const HEADER = 20
const VERSION = 1
const ST_RESET = 3
const ST_SYN = 4
const NO_EXTENSION = 0

/**
 * The ST_RESET answering a uTP SYN (same connection id, acknowledging its sequence number), or null for any
 * other datagram. Only libtorrent's SYNs are answered, which carry no extension: libutp's (Transmission,
 * µTorrent), which carry one, are left to time out, because libutp reports a reset as a reset, not a refusal,
 * and Transmission then neither retries over TCP nor gives uTP up (in the lab it had not connected after 60 s;
 * left unanswered it falls back to TCP).
 */
export function utpResetFor(datagram: Uint8Array, nowUs: number): Uint8Array | null {
  if (datagram.length < HEADER || datagram[0] !== ((ST_SYN << 4) | VERSION) || datagram[1] !== NO_EXTENSION) return null
  const syn = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length)
  const reset = Buffer.alloc(HEADER)
  reset[0] = (ST_RESET << 4) | VERSION
  reset.writeUInt16BE(syn.readUInt16BE(2), 2) // connection id: the initiator's receive id, as in the SYN
  reset.writeUInt32BE(nowUs >>> 0, 4)
  reset.writeUInt16BE(syn.readUInt16BE(16), 18) // ack_nr: the SYN's seq_nr
  return reset
}
