/**
 * murder speaks TCP only; libtorrent (qBittorrent) and libutp (Transmission) try uTP (BEP 29, over UDP)
 * first. What murder does with their SYN on its listening port, decided here (pure: the listener does the UDP).
 *
 * libtorrent waited about 3.4 s for an answer that never came before falling back to TCP: a reset answering its
 * SYN makes it fall back at once.
 *
 * Transmission 3.00 (libutp) never falls back by itself: libutp runs its timers only once a uTP packet has
 * been received, so an unanswered SYN never times out (one SYN, then nothing, until its 30 s handshake timeout
 * and another SYN later); a reset is reported as ECONNRESET, after which Transmission opens TCP, closes it at
 * once without a byte sent (its handshake's error path falls through to "done") and tries uTP again 10 s
 * later, then 2 min later. So its SYN is left unanswered and murder dials it over TCP instead, at the SYN's
 * source address: libutp sends from the client's listening port, which is its TCP port too.
 */

const HEADER = 20
const VERSION = 1
const ST_RESET = 3
const ST_SYN = 4
const NO_EXTENSION = 0

const isSyn = (datagram: Uint8Array) => datagram.length >= HEADER && datagram[0] === ((ST_SYN << 4) | VERSION)

/**
 * The ST_RESET answering libtorrent's uTP SYN (same connection id, acknowledging its sequence number), or null
 * for any other datagram. libtorrent's SYNs carry no extension; libutp's carry one.
 */
export function utpResetFor(datagram: Uint8Array, nowUs: number): Uint8Array | null {
  if (!isSyn(datagram) || datagram[1] !== NO_EXTENSION) return null
  const syn = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length)
  const reset = Buffer.alloc(HEADER)
  reset[0] = (ST_RESET << 4) | VERSION
  reset.writeUInt16BE(syn.readUInt16BE(2), 2) // connection id: the initiator's receive id, as in the SYN
  reset.writeUInt32BE(nowUs >>> 0, 4)
  reset.writeUInt16BE(syn.readUInt16BE(16), 18) // ack_nr: the SYN's seq_nr
  return reset
}

/** Whether the datagram is libutp's uTP SYN (Transmission's), whose sender murder dials over TCP instead. */
export function dialBackFor(datagram: Uint8Array): boolean {
  return isSyn(datagram) && datagram[1] !== NO_EXTENSION
}
