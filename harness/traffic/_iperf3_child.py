"""Child process for the iperf3 PyPI wrapper: enter the namespace, run libiperf, print JSON.

Usage: python -m harness.traffic._iperf3_child NETNS server|client JSON-OPTIONS
libiperf keeps global state and the wrapper redirects stdout while it runs, so each server or
client gets a process of its own; the parent records its PID for the sweeper.
"""

import json
import os
import sys


def split_warning(data: str) -> tuple[str, str | None]:
    """libiperf may print a warning ahead of its JSON (e.g. "UDP block size 1472 exceeds TCP
    MSS 1424" once the control connection learned a smaller path MTU): (json, warning)."""
    if data and not data.lstrip().startswith("{") and "{" in data:
        head, rest = data.split("{", 1)
        return "{" + rest, head.strip()
    return data, None


def main():
    ns, role, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    from harness.core import netns

    # the main thread itself must be in the namespace: libiperf opens its sockets from it
    netns.enter(ns)
    import iperf3
    import iperf3.iperf3 as wrapper

    # the wrapper parses what libiperf printed: keep the JSON, and any warning beside it
    warnings = []
    read_pipe = wrapper.read_pipe

    def read_json(pipe_out):
        data, warning = split_warning(read_pipe(pipe_out))
        if warning:
            warnings.append(warning)
        return data

    wrapper.read_pipe = read_json

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
    if warnings:
        data["_warnings"] = warnings
    out.write(json.dumps(data))
    out.flush()


if __name__ == "__main__":
    main()
