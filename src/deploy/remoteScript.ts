/** Quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`
}

export interface RemoteRun {
  /** SHA-256 (hex) of the single executable: its name in the target's cache. */
  sha256: string
  /** `murder peer` arguments before the target's own address: the info hash, the destination, options. */
  peerArgs: readonly string[]
  trackerPort: number
  /** The source's address for the targets; omitted: each target uses the address it sees ssh come from. */
  sourceIp?: string
  /** NODE_OPTIONS for the peer (V8 flags the single executable cannot set itself, see src/v8Flags.ts). */
  nodeOptions: string
  /**
   * An SSL torrent behind a passkey and an HTTPS tracker: the host's certificate and key, the deploy's CA
   * certificate and the passkey follow the executable (secretsBlock).
   */
  secure: boolean
}

/**
 * What a secure deploy sends a host after the executable, on the same ssh channel: its certificate and key, the
 * CA's certificate (which the tracker's HTTPS certificate must chain to; each a byte-count line, then the bytes)
 * and the tracker's passkey (a line). Nothing goes on a command line.
 */
export function secretsBlock(cert: string, key: string, caCert: string, passkey: string): Buffer {
  const item = (text: string) => [Buffer.from(`${Buffer.byteLength(text)}\n`), Buffer.from(text)]
  return Buffer.concat([...item(cert), ...item(key), ...item(caCert), Buffer.from(`${passkey}\n`)])
}

/** Printed first by the remote side: `murder-deploy <cached|missing> <$SSH_CONNECTION>`. */
export const HELLO = 'murder-deploy'
/** Exit codes of the remote script itself (the peer's own are 0-9). */
export const REMOTE_EXIT = { noGo: 111, store: 112 } as const

/**
 * The command run over ssh on every target, in one session (so one connection checks, pushes and runs):
 * 1. says whether murder's single executable with this SHA-256 is in the target's cache, and the addresses of
 *    the ssh connection (`$SSH_CONNECTION`: the source as the target sees it, and the target's own address);
 * 2. reads a line with a byte count, then that many bytes of the gzipped executable (0: cached), stores it
 *    under a temporary name, checks its hash and renames it into place (hosts may share a home directory);
 * 3. for a secure deploy, reads the host's certificate, key, the CA's certificate and the passkey (secretsBlock) into a folder of
 *    its own (mode 700), removed when the script ends;
 * 4. runs the peer with the target's own address and the tracker on the source (for a secure deploy the tracker's
 *    URL, passkey included, in a file of that folder: a command line shows in `ps`), and stops it (SIGTERM, by
 *    its pid) as soon as its stdin, the ssh channel, ends: when the deploy ends the session or dies, or the
 *    connection drops, no peer is left behind.
 * A POSIX login shell (sh, bash, dash, zsh, ksh) runs it.
 */
export function remoteCommand(r: RemoteRun): string {
  const script = `set -u
dir="\${XDG_CACHE_HOME:-$HOME/.cache}/murder"
bin="$dir/murder-${r.sha256}"
if [ -x "$bin" ]; then state=cached; else state=missing; fi
echo "${HELLO} $state $SSH_CONNECTION"
IFS= read -r n || exit ${REMOTE_EXIT.noGo}
if [ "$n" != 0 ]; then
  if mkdir -p "$dir" && tmp=$(mktemp "$bin.XXXXXX") && head -c "$n" | gzip -dc >"$tmp" && [ "$(sha256sum <"$tmp" | cut -c1-64)" = ${r.sha256} ] && chmod 755 "$tmp" && mv -f "$tmp" "$bin"; then :; else
    rm -f "\${tmp:-}"; echo "murder: cannot store murder in $dir" >&2; exit ${REMOTE_EXIT.store}
  fi
fi
${r.secure ? `umask 077
sec=$(mktemp -d) || exit ${REMOTE_EXIT.store}
trap 'rm -rf "$sec"' EXIT
trap 'exit 143' HUP INT TERM
IFS= read -r n && head -c "$n" >"$sec/cert.pem" && IFS= read -r n && head -c "$n" >"$sec/key.pem" && IFS= read -r n && head -c "$n" >"$sec/ca.pem" && IFS= read -r passkey || exit ${REMOTE_EXIT.noGo}
` : ''}set -- $SSH_CONNECTION
src=${r.sourceIp === undefined ? '$1' : shellQuote(r.sourceIp)}
me=$3
case $src in *:*) src="[$src]" ;; esac
${r.secure ? `printf '%s\\n' "https://$src:${r.trackerPort}/$passkey/announce" >"$sec/tracker" || exit ${REMOTE_EXIT.store}
` : ''}NODE_OPTIONS=${shellQuote(r.nodeOptions)} "$bin" peer ${r.peerArgs.map(shellQuote).join(' ')} "$me" ${r.secure ? `--cert "$sec/cert.pem" --key "$sec/key.pem" --tracker-ca "$sec/ca.pem" --tracker-file "$sec/tracker"` : `--tracker "http://$src:${r.trackerPort}/announce"`} </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; exit 143' HUP INT TERM
# An asynchronous list reads /dev/null unless told otherwise (POSIX, without job control): fd 3 is the channel.
exec 3<&0
{ while IFS= read -r _; do :; done; kill -TERM $pid; } <&3 >/dev/null 2>&1 &
watcher=$!
wait $pid
rc=$?
kill $watcher 2>/dev/null
exit $rc`
  return `exec sh -c ${shellQuote(script)}`
}
