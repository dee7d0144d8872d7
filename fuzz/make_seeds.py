#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_stream (fuzz/corpus/stream/). See decode() in fuzz_stream.cpp."""
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "stream")
READLINE, READ_UNTIL, READ_EXACTLY, READ_N, READ_SOME, CANCELLED, READ_ALL, YIELD = range(8)


def seed(limit_byte, sep, chunk, ops, data):
    """chunk: 0 = one write, 1..31 bytes, or 32..63 = (c - 31) KiB."""
    head = bytes([limit_byte, (len(sep) - 1) | (chunk << 2)]) + sep.ljust(3, b"\0")
    body = bytes([len(ops)]) + b"".join(bytes([k, n]) for k, n in ops)
    return head + body + data


def cancel(inner, yields):
    return CANCELLED | (inner << 3) | (yields << 6)


SEEDS = {
    "lines": seed(40, b"\n", 3, [(READLINE, 0)], b"alpha\nbeta\n\ngamma delta\nlast without newline"),
    "crlf_until": seed(20, b"\r\n", 5, [(READ_UNTIL, 0), (READ_N, 3)],
                       b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r"),
    "overrun": seed(4, b"\n", 1, [(READLINE, 0), (READ_N, 2), (READ_UNTIL, 0)],
                    b"short\nthis line is far longer than the limit\nok\n"),
    "exactly_past_eof": seed(127, b"|", 7, [(READ_EXACTLY, 10), (READ_SOME, 3), (READ_EXACTLY, 50)],
                             b"0123456789abcdefghij|tail"),
    "cancelled": seed(16, b"ab", 2, [(cancel(0, 1), 0), (cancel(1, 2), 0), (cancel(2, 3), 5),
                                      (cancel(3, 0), 4), (YIELD, 0), (READLINE, 0)],
                      b"xxab\nyyyab\n" * 8),
    "big_chunks": seed(250, b"\n\n\n", 33, [(READ_UNTIL, 0), (READ_EXACTLY, 210), (READ_SOME, 199)],
                       (b"0123456789abcdef" * 4096)[:61000] + b"\n\n\n" + b"z" * 3000),
    "empty_data": seed(1, b"x", 0, [(READLINE, 0), (READ_ALL, 0)], b""),
}

os.makedirs(HERE, exist_ok=True)
for name, blob in SEEDS.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(blob)
