#!/usr/bin/python3
"""rn_subscriber.py -- a bus subscriber in Python, written from proto/rn.proto alone.

Prints one JSON line per NumberEvent. The protobuf code comes from the .proto:
    protoc --python_out=DIR -I proto proto/rn.proto      (the build does this: build/python)
Needs Debian's python3-zmq and python3-protobuf.
"""
import argparse
import json
import os
import sys

import zmq


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--connect", default=os.environ.get("RN_CONNECT", "tcp://127.0.0.1:5556"),
                   help="generator endpoint(s), comma-separated")
    p.add_argument("--topic", default="number")
    p.add_argument("--count", type=int, default=0, help="exit after this many events")
    p.add_argument("--proto-path", default=os.environ.get("RN_PROTO_PY", ""),
                   help="directory holding the generated rn_pb2.py")
    p.add_argument("--curve-server-key-file", help="the generator's CURVE public key")
    p.add_argument("--curve-secret-key-file", help="our CURVE secret key")
    return p.parse_args()


def read_key(path):
    with open(path) as f:
        return f.read().strip().encode()


def open_socket(args):
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if args.curve_server_key_file or args.curve_secret_key_file:
        secret = read_key(args.curve_secret_key_file)
        sock.curve_serverkey = read_key(args.curve_server_key_file)
        sock.curve_secretkey = secret
        sock.curve_publickey = zmq.curve_public(secret)
    sock.setsockopt(zmq.SUBSCRIBE, args.topic.encode())
    for endpoint in args.connect.split(","):
        sock.connect(endpoint)
    return sock


def main():
    args = parse_args()
    if args.proto_path:
        sys.path.insert(0, args.proto_path)
    import rn_pb2  # generated from proto/rn.proto

    sock = open_socket(args)
    seen = 0
    while args.count == 0 or seen < args.count:
        frames = sock.recv_multipart()
        if len(frames) != 2 or frames[0] != args.topic.encode():
            print(f"dropped a message of {len(frames)} frames", file=sys.stderr)
            continue
        try:
            ev = rn_pb2.NumberEvent.FromString(frames[1])
        except Exception as e:  # a malformed payload is dropped, not fatal
            print(f"dropped an undecodable message: {e}", file=sys.stderr)
            continue
        print(json.dumps({"epoch": ev.epoch, "seq": ev.seq, "value": ev.value,
                          "published_ns": ev.published_ns}), flush=True)
        seen += 1


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
