"""Child process for the iperf3 PyPI wrapper: enter the namespace, run libiperf, print JSON.

Usage: python -m harness.traffic._iperf3_child NETNS server|client JSON-OPTIONS
libiperf keeps global state and the wrapper redirects stdout while it runs, so each server or
client gets a process of its own; the parent records its PID for the sweeper.
"""

import json
import os
import sys


def main():
    ns, role, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    from harness import netns

    # the main thread itself must be in the namespace: libiperf opens its sockets from it
    netns.enter(ns)
    import iperf3

    out = os.fdopen(os.dup(1), "w")
    if role == "server":
        s = iperf3.Server()
        s.port = opts["port"]
        if opts.get("bind"):
            s.bind_address = opts["bind"]
        res = s.run()
    else:
        c = iperf3.Client()
        c.server_hostname = opts["host"]
        c.port = opts["port"]
        c.duration = int(opts["seconds"])
        c.protocol = opts.get("protocol", "tcp")
        if opts.get("omit"):
            c.omit = int(opts["omit"])
        if opts.get("bandwidth"):
            c.bandwidth = int(opts["bandwidth"])
        if opts.get("blksize"):
            c.blksize = int(opts["blksize"])
        if opts.get("streams"):
            c.num_streams = int(opts["streams"])
        res = c.run()
    data = res.json if res is not None else {"error": "no result"}
    data.setdefault("_version", getattr(res, "version", "") if res is not None else "")
    out.write(json.dumps(data))
    out.flush()


if __name__ == "__main__":
    main()
