#!/usr/bin/python3
"""rn_subscriber.py -- a bus subscriber in Python, written from proto/rn.proto alone.

Prints one JSON line per NumberEvent. With --replay-from EPOCH-SEQ it first prints the
events after that one which the generator still holds, asked from its replay socket, then
the live ones: in seq order, each once. With a generator pair's two buses (--connect A,B)
it reads both, one socket each, prints each event once in seq order, whichever member
sent it, and asks the replay of the active one (its heartbeat says so). The protobuf
code comes from the .proto:
    protoc --python_out=DIR -I proto proto/rn.proto      (the build does this: build/python)
Needs Debian's python3-zmq and python3-protobuf.
"""
import argparse
import json
import os
import re
import sys

import zmq


def position(text):
    """EPOCH-SEQ, as in a gateway's SSE id."""
    m = re.fullmatch(r"(\d+)-(\d+)", text)
    if not m or int(m[1]) == 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not EPOCH-SEQ (e.g. 1700000000000-42)")
    return int(m[1]), int(m[2])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--connect", default=os.environ.get("RN_CONNECT", "tcp://127.0.0.1:5556"),
                   help="the generator's bus, or a pair's two, comma-separated")
    p.add_argument("--topic", default="number")
    p.add_argument("--count", type=int, default=0, help="exit after this many events")
    p.add_argument("--proto-path", default=os.environ.get("RN_PROTO_PY", ""),
                   help="directory holding the generated rn_pb2.py")
    p.add_argument("--curve-server-key-file",
                   help="the generator's CURVE public key; with several --connect endpoints, "
                        "one file per endpoint, comma-separated in the same order (or one for all)")
    p.add_argument("--curve-secret-key-file", help="our CURVE secret key")
    p.add_argument("--replay-from", type=position, metavar="EPOCH-SEQ",
                   help="first print the held events of EPOCH after SEQ")
    p.add_argument("--replay-connect", metavar="ENDPOINT",
                   help="replay endpoint (default: the --connect host, port from a heartbeat)")
    args = p.parse_args()
    if args.replay_from and not args.replay_connect and "tcp://" not in args.connect:
        p.error("--replay-from needs --replay-connect when --connect has no tcp:// endpoint")
    args.server_keys = server_keys(p, args)
    return args


def server_keys(p, args):
    """{endpoint: its generator's public key file, or None}: a pair's members each have
    their own key pair, so the list gives one per --connect endpoint, or one for all."""
    endpoints = args.connect.split(",")
    files = args.curve_server_key_file.split(",") if args.curve_server_key_file else [None]
    if len(files) == 1:
        files = files * len(endpoints)
    if len(files) != len(endpoints) or not all(f is None or f for f in files):
        p.error(f"--curve-server-key-file: {len(endpoints)} --connect endpoints need one key "
                "file each, or one for all")
    return dict(zip(endpoints, files))


def read_key(path):
    with open(path) as f:
        return f.read().strip().encode()


def new_socket(args, kind, server_key_file):
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    # The generator sends no pings: ours ask it to drop us after 3 s without one.
    sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
    sock.setsockopt(zmq.HEARTBEAT_TTL, 3000)
    # A connect unanswered for 2 s is given up and the name looked up again: a generator
    # replaced at a new address leaves its old one silent.
    sock.setsockopt(zmq.CONNECT_TIMEOUT, 2000)
    if server_key_file or args.curve_secret_key_file:
        secret = read_key(args.curve_secret_key_file)
        sock.curve_serverkey = read_key(server_key_file)
        sock.curve_secretkey = secret
        sock.curve_publickey = zmq.curve_public(secret)
    return sock


def open_sockets(args):
    """One SUB per endpoint, so a heartbeat says which member it describes."""
    socks = []
    for endpoint in args.connect.split(","):
        sock = new_socket(args, zmq.SUB, args.server_keys[endpoint])
        sock.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
        if args.replay_from:
            sock.setsockopt(zmq.SUBSCRIBE, b"_heartbeat")  # it names the replay port
        sock.connect(endpoint)
        socks.append((endpoint, sock))
    return socks


def live(socks, args, rn_pb2):
    """Yields (endpoint, is_heartbeat, message) as they arrive from any socket; drops what
    does not decode."""
    kinds = {args.topic.encode(): rn_pb2.NumberEvent, b"_heartbeat": rn_pb2.Heartbeat}
    poller = zmq.Poller()
    for _, sock in socks:
        poller.register(sock, zmq.POLLIN)
    while True:
        ready = dict(poller.poll())
        for endpoint, sock in socks:
            if sock not in ready:
                continue
            frames = sock.recv_multipart()
            if len(frames) != 2 or frames[0] not in kinds:
                print(f"dropped a message of {len(frames)} frames", file=sys.stderr)
                continue
            try:
                msg = kinds[frames[0]].FromString(frames[1])
            except Exception as e:  # a malformed payload is dropped, not fatal
                print(f"dropped an undecodable message: {e}", file=sys.stderr)
                continue
            yield endpoint, frames[0] == b"_heartbeat", msg


def replay_endpoint(stream):
    """The active member's replay socket: on its bus host, at the port its heartbeat
    announces (state 0 is ACTIVE; a single generator always is), and its bus endpoint,
    whose key it has. Events read meanwhile are dropped here: the replay answers them."""
    endpoint, hb = next((e, msg) for e, is_heartbeat, msg in stream
                        if is_heartbeat and msg.state == 0 and e.startswith("tcp://"))
    if not hb.replay_port:
        sys.exit("the generator has no replay socket (replay_port 0)")
    return f"{endpoint.rsplit(':', 1)[0]}:{hb.replay_port}", endpoint


def once_in_order(stream):
    """Each event once: a pair's two buses may both carry one (a split brain, or a member
    that took over), and ZeroMQ may deliver a repeat; older ones of the epoch are dropped."""
    epoch = last = 0
    for _, is_heartbeat, ev in stream:
        if is_heartbeat or (ev.epoch == epoch and ev.seq <= last):
            continue
        epoch, last = ev.epoch, ev.seq
        yield ev


def replay(args, endpoint, key_file, rn_pb2, epoch, first, last):
    """Yields the held events of epoch with seq first..last, in order; asks again from the
    next seq while there are more, since one ReplayReply holds at most 1000 events. A
    fresh REQ socket each time, so a late answer never passes for the next one."""
    with new_socket(args, zmq.REQ, key_file) as req:
        req.setsockopt(zmq.RCVTIMEO, 2000)  # never wait forever for an answer
        req.connect(endpoint)
        while first <= last:
            request = rn_pb2.ReplayRequest(epoch=epoch, from_seq=first, to_seq=last)
            req.send(request.SerializeToString())
            try:
                reply = rn_pb2.ReplayReply.FromString(req.recv())
            except zmq.Again:
                print(f"replay: no answer from {endpoint}", file=sys.stderr)
                return
            if reply.error or reply.epoch != epoch:
                why = reply.error or f"epoch {epoch} is gone (generator is at epoch {reply.epoch})"
                print(f"replay: {why}", file=sys.stderr)
                return
            events = [e for e in reply.events if first <= e.seq <= last]
            yield from events
            if not events or events[-1].seq >= reply.last_seq:
                return
            first = events[-1].seq + 1


def ordered(socks, args, rn_pb2):
    """The events after --replay-from: those the replay socket holds, then the live ones.
    A live event already printed is skipped; one after a jump in seq (ZeroMQ dropped some)
    waits for the missing ones, asked again from the replay socket."""
    epoch, last = args.replay_from
    stream = live(socks, args, rn_pb2)
    if args.replay_connect:  # its generator's key is the first
        endpoint, key_file = args.replay_connect, next(iter(args.server_keys.values()))
    else:
        endpoint, bus = replay_endpoint(stream)
        key_file = args.server_keys[bus]
    for ev in replay(args, endpoint, key_file, rn_pb2, epoch, last + 1, 2**64 - 1):
        last = ev.seq
        yield ev
    for _, is_heartbeat, ev in stream:
        if is_heartbeat or (ev.epoch == epoch and ev.seq <= last):
            continue
        if ev.epoch == epoch and ev.seq > last + 1:
            yield from replay(args, endpoint, key_file, rn_pb2, epoch, last + 1, ev.seq - 1)
        epoch, last = ev.epoch, ev.seq  # a new epoch starts at its first live event
        yield ev


def main():
    args = parse_args()
    if args.proto_path:
        sys.path.insert(0, args.proto_path)
    import rn_pb2  # generated from proto/rn.proto

    socks = open_sockets(args)
    if args.replay_from:
        events = ordered(socks, args, rn_pb2)
    else:
        events = once_in_order(live(socks, args, rn_pb2))
    for seen, ev in enumerate(events, 1):
        print(json.dumps({"epoch": ev.epoch, "seq": ev.seq, "value": ev.value,
                          "published_ns": ev.published_ns}), flush=True)
        if seen == args.count:
            break


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
