#!/usr/bin/env python3
"""Writes the CycloneDX 1.5 SBOM (JSON) of a dist/ binary: exactly the packages the binary embeds in its
`.dep-v0` section (cargo auditable; scripts/dep-list.py reads it), each with its crates.io purl, its SHA-256
from Cargo.lock and its license from `cargo metadata`, plus the dependency graph. release.yml attaches one
per architecture to every GitHub release.

    python3 scripts/sbom.py dist/amd64/stevedore > stevedore-amd64.cdx.json
    python3 scripts/sbom.py --version 1.4.0 dist/amd64/stevedore     # the release's version (Cargo.toml's
                                                                     # stays 0.1.0: releases are tags)

Deterministic: the serial number derives from the binary's SHA-256 and the timestamp is the commit's
(SOURCE_DATE_EPOCH when set), so the same binary gives the same file. Needs cargo (for the licenses) and
Python 3.11 (tomllib). Fails when a runtime package of the binary is missing from Cargo.lock.
"""
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import uuid
from datetime import datetime, timezone

import importlib.util

_spec = importlib.util.spec_from_file_location("dep_list", os.path.join(os.path.dirname(__file__), "dep-list.py"))
dep_list = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dep_list)


def purl(name, version):
    return f"pkg:cargo/{name}@{version}"


def spdx(expr):
    # Old Cargo.toml spellings: "MIT/Apache-2.0" means "MIT OR Apache-2.0".
    return " OR ".join(p.strip() for p in expr.split("/")) if expr else None


def main(argv):
    version = None
    if len(argv) == 3 and argv[0] == "--version":
        version, argv = argv[1], argv[2:]
    if len(argv) != 1:
        raise SystemExit("usage: sbom.py [--version X.Y.Z] BINARY")
    binary = argv[0]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(binary, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    audit = dep_list.packages(binary)["packages"]
    with open(os.path.join(root, "Cargo.lock"), "rb") as f:
        lock = {(p["name"], p["version"]): p for p in tomllib.load(f)["package"]}
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1", "--manifest-path", os.path.join(root, "Cargo.toml")],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    licenses = {(p["name"], p["version"]): p.get("license") for p in meta["packages"]}
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or subprocess.run(
        ["git", "-C", root, "log", "-1", "--format=%ct"], capture_output=True, text=True).stdout.strip() or 0)

    refs = [purl(p["name"], p["version"]) for p in audit]
    top = next(p for p in audit if p.get("root"))
    components = []
    for p in audit:
        if p is top:
            continue
        key = (p["name"], p["version"])
        locked = lock.get(key)
        if locked is None:
            raise SystemExit(f"{p['name']} {p['version']} is in {binary} but not in Cargo.lock")
        c = {
            "type": "library",
            "bom-ref": purl(*key),
            "name": p["name"],
            "version": p["version"],
            "purl": purl(*key),
            # Build-time packages (build scripts, proc macros) shaped the binary but are not linked into it.
            "scope": "excluded" if p.get("kind") == "build" else "required",
        }
        if locked.get("checksum"):
            c["hashes"] = [{"alg": "SHA-256", "content": locked["checksum"]}]
        if licenses.get(key):
            c["licenses"] = [{"expression": spdx(licenses[key])}]
        components.append(c)
    components.sort(key=lambda c: c["bom-ref"])
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'sha256:' + digest)}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "stevedore scripts/sbom.py"}]},
            "component": {
                "type": "application",
                "bom-ref": purl(top["name"], top["version"]),
                "name": top["name"],
                "version": version or top["version"],
                "purl": purl(top["name"], version or top["version"]),
                "hashes": [{"alg": "SHA-256", "content": digest}],
                "licenses": [{"expression": spdx(licenses.get((top["name"], top["version"])) or "")}],
            },
        },
        "components": components,
        "dependencies": sorted(
            ({"ref": refs[i], "dependsOn": sorted(refs[d] for d in p.get("dependencies", []))} for i, p in enumerate(audit)),
            key=lambda d: d["ref"],
        ),
    }
    json.dump(bom, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
