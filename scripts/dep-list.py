#!/usr/bin/env python3
"""Reads the dependency list a binary built with `cargo auditable` embeds (the `.dep-v0` ELF section:
zlib-compressed JSON in the format of the `auditable-serde` crate) and prints it, one package per line:
`name version source kind` (kind: runtime or build), sorted. Exits 1 when the binary has no such section.

    python3 scripts/dep-list.py dist/amd64/stevedore
    python3 scripts/dep-list.py --json dist/amd64/stevedore     # the embedded JSON itself

The same list `cargo audit bin`, syft and trivy read; this reader needs only Python (CI, release.yml's SBOM).
"""
import json
import struct
import sys
import zlib


def section(path, wanted=b".dep-v0"):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit(f"{path}: not a 64-bit little-endian ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = headers[shstrndx][4]
    for name, _type, _flags, _addr, off, size in headers:
        end = data.index(b"\0", names_off + name)
        if data[names_off + name : end] == wanted:
            return data[off : off + size]
    return None


def packages(path):
    raw = section(path)
    if raw is None:
        print(f"{path} has no .dep-v0 section: it was not built with cargo auditable", file=sys.stderr)
        raise SystemExit(1)
    return json.loads(zlib.decompress(raw))


def main(argv):
    as_json = "--json" in argv
    paths = [a for a in argv if a != "--json"]
    if len(paths) != 1:
        raise SystemExit("usage: dep-list.py [--json] BINARY")
    doc = packages(paths[0])
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return
    for p in sorted(doc["packages"], key=lambda p: (p["name"], p["version"])):
        print(p["name"], p["version"], p.get("source", "?"), p.get("kind", "runtime"))


if __name__ == "__main__":
    main(sys.argv[1:])
