"""libtorrent (Debian python3-libtorrent) as the other side of murder's SSL torrents, for test/libtorrentSsl.test.ts.

  make <source-folder> <tracker-url> <ca.pem> <out.torrent>     a torrent made by libtorrent (set_root_cert)
  seed <torrent> <save-path> <cert.pem> <key.pem>               seeds until killed
  download <torrent> <save-path> <cert.pem> <key.pem>           exits 0 once complete

Prints 'started' once the torrent is added, 'done' when complete; alerts of interest on stderr.
"""
import os
import sys
import time

import libtorrent as lt


def make(source, tracker, ca, out):
    fs = lt.file_storage()
    lt.add_files(fs, source)
    t = lt.create_torrent(fs, 65536)
    t.add_tracker(tracker)
    with open(ca) as f:
        t.set_root_cert(f.read())
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(source)))
    with open(out, 'wb') as f:
        f.write(lt.bencode(t.generate()))


def run(mode, torrent, save, cert, key):
    ses = lt.session({
        # Port 0: any free port; the `s` suffix is libtorrent's SSL listen socket, the one it announces for SSL torrents.
        'listen_interfaces': '127.0.0.1:0,127.0.0.1:0s',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
        | lt.alert.category_t.peer_notification | lt.alert.category_t.connect_notification,
    })
    h = ses.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
    h.set_ssl_certificate(cert, key, '')
    print('started', flush=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, (lt.listen_succeeded_alert, lt.listen_failed_alert, lt.peer_error_alert, lt.peer_disconnected_alert, lt.torrent_error_alert, lt.tracker_error_alert, lt.peer_connect_alert)):
                print(type(a).__name__, a.message(), file=sys.stderr, flush=True)
        s = h.status()
        if mode == 'download' and s.is_seeding:
            print('done', flush=True)
            return 0
        time.sleep(0.1)
    print('timed out: %s %.2f' % (h.status().state, h.status().progress), file=sys.stderr, flush=True)
    return 1 if mode == 'download' else 0


if __name__ == '__main__':
    if sys.argv[1] == 'make':
        make(*sys.argv[2:6])
        sys.exit(0)
    sys.exit(run(*sys.argv[1:6]))
