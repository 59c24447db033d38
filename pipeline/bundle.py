"""Bundle: one zip of exactly what may leave the secure environment, for the CBS output checkers.

It holds the files the audit passed (tables, figures, the output check) and the audit report,
each checked against the hash the audit recorded, so nothing changed or added after the audit
slips in and nothing from ``data/`` ever does. The zip is byte-for-byte reproducible.
"""
from __future__ import annotations

import argparse
import json
import zipfile
from io import BytesIO
from pathlib import Path

from . import io
from .audit import sha256
from .errors import PipelineInputError

ALLOWED = ("reports/", "figures/")
_DATE = (2000, 1, 1, 0, 0, 0)  # fixed timestamps: the same files give the same zip


def bundle_files(audit: dict, *, root: Path, reports: list[str], audit_file: str) -> list[str]:
    """The paths that go into the zip: every file the audit passed, then ``reports`` (the audit's own
    report). Fails naming the file when the audit did not pass, a file lies outside reports/ and
    figures/, or a file differs from what the audit saw."""
    if not audit.get("passed"):
        raise PipelineInputError("the audit did not pass; nothing may leave", file=audit_file)
    paths = []
    for e in audit.get("files", []):
        rel = e["path"]
        if not rel.startswith(ALLOWED) or ".." in Path(rel).parts:
            raise PipelineInputError("file outside reports/ and figures/ listed by the audit", file=rel)
        p = root / rel
        if not p.is_file() or sha256(p) != e["sha256"]:
            raise PipelineInputError("file changed or vanished since the audit; run the workflow again", file=rel)
        paths.append(rel)
    for rel in reports:
        if not rel.startswith(ALLOWED) or not (root / rel).is_file():
            raise PipelineInputError("audit report missing or outside reports/", file=rel)
    return sorted(set(paths)) + [r for r in reports if r not in paths]


def write_bundle(paths: list[str], out: str | Path, *, root: Path) -> None:
    """A deflated zip of ``paths`` (relative to ``root``), written atomically."""
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for rel in paths:
            info = zipfile.ZipInfo(rel, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, (root / rel).read_bytes())
    io.write_bytes(buf.getvalue(), out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline bundle", description=__doc__)
    ap.add_argument("--audit", nargs="+", required=True, help="the audit's JSON report, then its other reports")
    ap.add_argument("--root", default=".")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("bundle")
    root = Path(a.root)
    audit = json.loads((root / a.audit[0]).read_text(encoding="utf-8"))
    paths = bundle_files(audit, root=root, reports=a.audit, audit_file=a.audit[0])
    write_bundle(paths, a.out, root=root)
    for p in paths:
        io.log.info("bundled %s", p)
    io.log.info("%s: %d files", a.out, len(paths))
    return 0
