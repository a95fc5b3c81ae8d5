#!/usr/bin/env python3
"""A DNS responder for benchmarks: answers every query at once with NXDOMAIN.

"DNS off" for the peers means no network answers, not slow time-outs: with this on loopback,
each lookup a peer makes fails immediately, so its measured speed is its own.
Usage: nxdns.py PORT  (binds 127.0.0.1:PORT/udp, runs until killed)
"""
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, addr = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    # Same ID and question; QR=1, opcode copied, RD copied, RA=1, RCODE=3 (NXDOMAIN); no answers.
    flags = bytes([0x80 | (data[2] & 0x79), 0x80 | 3])
    sock.sendto(data[:2] + flags + data[4:6] + b"\0\0\0\0\0\0" + data[12:], addr)
