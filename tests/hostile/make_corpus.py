#!/usr/bin/env python3
"""Writes the hostile-input corpus of tests/hostile/ (deterministic: run it again and
git shows no change). Each file is a stream of records, one per line, meant to be fed
to every codec through `source file` (see connectors/tests/hostile.rs and
docs/hostile-input.md). Files too big to commit (the 50 MB line) are made by the
test itself at run time.

    python3 tests/hostile/make_corpus.py
"""

import gzip
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def lines(*items):
    out = b""
    for item in items:
        out += (item.encode("utf-8") if isinstance(item, str) else item) + b"\n"
    return out


def gz(data):
    # mtime=0 keeps the bytes the same from run to run.
    return gzip.compress(data, compresslevel=6, mtime=0)


def main():
    rng = random.Random(9)
    records = b"".join(
        json.dumps({"n": i, "user": f"user{i}", "msg": "x" * (i % 50)}).encode() + b"\n"
        for i in range(2000)
    )
    whole = gz(records)
    # Cut in the middle of the deflate stream: the first lines decode, then the end
    # marker and checksum are missing.
    write("truncated.gz", whole[: len(whole) // 2])
    # A valid header, then damage in the middle of the compressed data.
    damaged = bytearray(whole)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 64):
        damaged[i] ^= 0x5A
    write("corrupt.gz", bytes(damaged))
    # Only the two magic bytes.
    write("magic-only.gz", b"\x1f\x8b")
    # Two members one after another, the second holding a line the first began.
    write("two-members.gz", gz(b'{"part":1}\n{"split":') + gz(b'"across members"}\n'))

    write(
        "invalid-utf8.log",
        lines(
            b'{"user":"caf\xe9"}',  # Latin-1, not UTF-8
            b"user=\xff\xfe admin=\xc0\xaf",  # never valid; an overlong slash
            b"<13>1 2024-01-01T00:00:00Z h\xed\xa0\x80 app - - - lone surrogate",
            b"CEF:0|V\xe2\x82|P|1|s|n|5|src=\xf0\x9f\x98",  # cut multi-byte sequences
            b"a,\xe9,c",
            b"ends mid character \xe2\x82",
        ),
    )
    write(
        "nul-bytes.log",
        lines(
            b"\x00" * 64,
            b'{"user":"al\x00ice"}',
            b'{"user":"al\\u0000ice"}',  # an escaped NUL is valid JSON
            b"key=va\x00lue other=1",
            b"<13>1 2024-01-01T00:00:00Z h\x00st app - - - nul in the host",
            b"CEF:0|V|P|1|s|n|5|src=10.0.0.1\x00 dst=10.0.0.2",
            b"a,\x00,c",
        )
        + b"\x00\x00\x00",  # a last "line" of NULs without a newline
    )
    write(
        "json-deep-10000.ndjson",
        lines(
            "[" * 10_000 + "]" * 10_000,
            '{"a":' * 10_000 + "1" + "}" * 10_000,
            "[" * 10_000,  # unclosed as well
            '{"ok":"a shallow record after the deep ones"}',
        ),
    )
    write(
        "json-duplicate-keys.ndjson",
        lines(
            '{"user":"alice","user":"mallory"}',
            '{"a":1,"b":2,"a":3}',
            '{"outer":{"k":1,"k":{"deep":true}},"outer":{"k":2}}',
            '{"":1,"":2}',
            '{"User":"alice","user":"bob"}',  # different keys: both stay
            "{" + ",".join(f'"k{i % 100}":{i}' for i in range(1000)) + "}",
        ),
    )
    write(
        "json-malformed.ndjson",
        lines(
            '{"a":1',
            '{"a":1,}',
            "[1,2,]",
            '{"a":NaN}',
            '{"a":Infinity}',
            '{"a":1e999999}',
            '{"a":123456789012345678901234567890}',
            '{"a":"\\ud800"}',
            '{"a":"\\uZZZZ"}',
            '{"a":"\t"}',  # a raw control character in a string
            '{a:1}',
            "'single'",
            "",
            "   ",
            '{"a":1} {"b":2}',
            '"just a string"',
            "42",
            "null",
        ),
    )
    wide = "{" + ",".join(f'"field{i}":{i}' for i in range(12_000)) + "}"
    write("json-wide.ndjson", lines(wide, '{"small":1}'))

    write(
        "csv-ragged.csv",
        lines(
            "a,b,c",
            "a,b",
            "a,b,c,d",
            "",
            ",,",
            ',,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,',
            '"unclosed,b,c',
            'a,"b"x,c',
            'a,b"c,d',
            '"a ""quoted"" one",b,c',
            '"a field with a',  # a quoted line break, split by the line source
            'line break",b,c',
            "\ufeffa,b,c",  # a byte order mark
        ),
    )
    write(
        "syslog-absurd-dates.log",
        lines(
            "<13>1 0000-01-01T00:00:00Z host app - - - year zero",
            "<13>1 99999-01-01T00:00:00Z host app - - - five digit year",
            "<13>1 -2024-01-01T00:00:00Z host app - - - negative year",
            "<13>1 2024-02-30T10:00:00Z host app - - - february 30",
            "<13>1 2023-02-29T10:00:00Z host app - - - not a leap year",
            "<13>1 2024-02-29T10:00:00Z host app - - - a leap day",
            "<13>1 2024-13-01T00:00:00Z host app - - - month 13",
            "<13>1 2024-00-10T00:00:00Z host app - - - month 0",
            "<13>1 2024-01-01T25:61:61Z host app - - - hour 25",
            "<13>1 2016-12-31T23:59:60Z host app - - - a leap second",
            "<13>1 2024-01-01T00:00:00+99:99 host app - - - offset",
            "<13>1 2024-01-01T00:00:00.1234567890Z host app - - - ten fraction digits",
            "<13>Feb 30 10:00:00 host app: february 30",
            "<13>Feb 29 10:00:00 host app: february 29",
            "<13>Feb  0 10:00:00 host app: day 0",
            "<13>Xyz 10 10:00:00 host app: no such month",
            "<13>Jan 10 99:99:99 host app: hour 99",
            "<999>1 2024-01-01T00:00:00Z host app - - - priority 999",
            "<-1>1 2024-01-01T00:00:00Z host app - - - negative priority",
            "<13>9 2024-01-01T00:00:00Z host app - - - version 9",
            "<13>",
            "<",
        ),
    )
    write(
        "cef-broken.log",
        lines(
            "CEF:0|Vendor|Product|1.0|100|name|5|src=10.0.0.1 msg=trailing backslash\\",
            "CEF:0|Vendor\\|Product|1.0|100|name|5|",  # one part short once unescaped
            "CEF:0|V|P|1|s|n|5|=novalue key=",
            "CEF:0|V|P|1|s|n|5|msg=a\\=b\\\\c\\nd\\x",
            "CEF:0|V|P|1|s|n|5|just text without pairs",
            "CEF:0|V|P|1|s|n",
            "CEF:|V|P|1|s|n|5|",
            "CEF:X|V|P|1|s|n|5|",
            "CEF:0|V|P|1|s|n|5|src=1 src=2 src=3",
            "<134>Feb 30 10:15:01 fw CEF:0|V|P|1|s|n|5|src=10.0.0.1",
            "not cef at all",
            "CEF:0" + "|" * 5000,
        ),
    )
    write(
        "kv-no-equals.log",
        lines(
            "no equals sign anywhere",
            "=",
            "==",
            "=value",
            "key=",
            'a="unclosed',
            "a='unclosed",
            'a="x"y b=1',
            "a=1 flag b=2",
            'a="\\',
            " " * 100,
            "a=1" + " a=2" * 2000,
        ),
    )
    write("binary-noise.bin", bytes(rng.getrandbits(8) for _ in range(8192)))
    # Carriage returns only (classic Mac line ends): one line as far as `\n` goes.
    write("cr-only.log", b"\r".join(b"user=u%d" % i for i in range(200)) + b"\r")


if __name__ == "__main__":
    main()
