#!/usr/bin/python3
"""A plain libtorrent client for the interoperability tests and the bench (Debian python3-libtorrent).

  ltclient.py make <source> <tracker-url> <torrent>      make a torrent (symlinks kept as links, BEP 47 padding)
  ltclient.py get <torrent|magnet> <save-path> [--seed]  download; print "done" and exit 0 (or keep seeding)
  ltclient.py seed <torrent> <save-path>                  check the copy, print "seeding", seed until killed
  options: --interface <ip>  listen there only; --lan  tuned for a trusted LAN (the bench's libtorrent)

Only the tracker names peers (no DHT, local discovery, UPnP). Reports JSON lines on stderr as murder logs
(msg "listening" with its port, "done", "seeding"), so that tests wait on them alike; an error: its message
and exit 1.
"""
import json
import os
import sys
import libtorrent as lt


# A trusted LAN, as the bench's aria2c is tuned: TCP only (uTP's congestion control is for shared links),
# no encryption, every peer unchoked, no rate limits, the tracker's interval obeyed (the default floor is
# 300 s), enough open files for trees of thousands.
LAN = {
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'out_enc_policy': int(lt.enc_policy.disabled), 'in_enc_policy': int(lt.enc_policy.enabled),
    'unchoke_slots_limit': -1, 'connections_limit': 500,
    'upload_rate_limit': 0, 'download_rate_limit': 0,
    'min_announce_interval': 1, 'file_pool_size': 500,
}


def session(interface, lan):
    return lt.session({
        'listen_interfaces': f'{interface}:0',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        # Every murder peer of a loopback test shares one address.
        'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        **(LAN if lan else {}),
    })


def say(msg, **fields):
    print(json.dumps({'msg': msg, **fields}), file=sys.stderr, flush=True)


def make(source, tracker, out):
    fs = lt.file_storage()
    lt.add_files(fs, source, flags=lt.create_torrent.symlinks)
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.symlinks)
    ct.add_tracker(tracker)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(source)))
    with open(out, 'wb') as f:
        f.write(lt.bencode(ct.generate()))


def run(what, save_path, stay, message, interface, lan):
    ses = session(interface, lan)
    params = lt.parse_magnet_uri(what) if what.startswith('magnet:') else lt.add_torrent_params()
    if not what.startswith('magnet:'):
        params.ti = lt.torrent_info(what)
    params.save_path = save_path
    handle = ses.add_torrent(params)
    say('listening', port=ses.listen_port())
    finished = False
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.metadata_failed_alert)):
                say('error', error=a.message())
                sys.exit(1)
        s = handle.status()
        if not finished and s.is_seeding:
            finished = True
            say(message)
            if not stay:
                # Tell the tracker, so that it does not hand out a peer that has gone.
                ses.pause()
                return
        # torrent_finished_alert (a status notification) ends the wait: "done" is said when it happens.
        ses.wait_for_alert(1000 if finished else 100)


def main(argv):
    interface = '0.0.0.0'
    lan = '--lan' in argv
    if lan:
        argv.remove('--lan')
    if '--interface' in argv:
        i = argv.index('--interface')
        interface = argv[i + 1]
        del argv[i:i + 2]
    if argv[:1] == ['make'] and len(argv) == 4:
        make(*argv[1:])
    elif argv[:1] == ['get'] and len(argv) in (3, 4):
        run(argv[1], argv[2], argv[3:] == ['--seed'], 'done', interface, lan)
    elif argv[:1] == ['seed'] and len(argv) == 3:
        run(argv[1], argv[2], True, 'seeding', interface, lan)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


main(sys.argv[1:])
