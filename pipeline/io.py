"""All reading and writing: file discovery in the CBS tree, typed reads of .sav/.csv/.parquet,
atomic Parquet/CSV/JSON writes and the step logger.

Nothing else in the package opens a file, so the rules for names, versions, types and missing
codes live in one place.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import PipelineInputError

log = logging.getLogger("pipeline")

# Preference among files with the same base name: the .sav is the original CBS delivery.
_SUFFIX_RANK = {".sav": 0, ".csv": 1, ".parquet": 2}


def setup_logging(step: str) -> logging.Logger:
    """Log to stderr (Snakemake sends it to the rule's log file) with the step name."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {step} %(levelname)s %(message)s", force=True)
    return logging.getLogger("pipeline")


# --------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class FoundFile:
    path: Path
    key: int          # edition or income year
    version: int


def discover(raw_root: str | Path, *, dirs: Iterable[str], pattern: str) -> list[FoundFile]:
    """All files under ``raw_root/dir`` (recursively) whose name matches ``pattern``.

    ``pattern`` is a regular expression on the file name with a named group ``key`` (edition or
    year) and optionally ``version``; it is matched case-insensitively against the name without
    its suffix. Only .sav, .csv and .parquet files count. A folder in ``dirs`` is also found when
    it differs in case, spaces, underscores or hyphens; a file under two listed folders counts once.
    """
    rx = re.compile(pattern, re.IGNORECASE)
    found: list[FoundFile] = []
    seen: set[Path] = set()
    root = Path(raw_root)
    for d in dirs:
        for p in (q for base in _find_dirs(root, d) for q in base.rglob("*")):
            if p in seen:
                continue
            seen.add(p)
            if p.suffix.lower() not in _SUFFIX_RANK or not p.is_file():
                continue
            m = rx.fullmatch(p.stem)
            if not m:
                continue
            version = m.groupdict().get("version")
            found.append(FoundFile(p, int(m.group("key")), int(version) if version else 0))
    return found


def _squash(name: str) -> str:
    """A folder name without case, spaces, underscores or hyphens: `Integraal_Huishoudens Inkomen`
    and `INTEGRAAL HUISHOUDENS INKOMEN` are the same folder to a user reading the G: drive."""
    return re.sub(r"[\s_\-]+", "", name).lower()


def _find_dirs(root: Path, rel: str) -> list[Path]:
    """Every folder under ``root`` whose path components match ``rel``'s up to case, spaces,
    underscores and hyphens (``rel`` itself first when it exists)."""
    level = [root]
    for part in Path(rel).parts:
        want = _squash(part)
        nxt = []
        for cur in level:
            exact = cur / part
            if exact.is_dir():
                nxt.append(exact)
            try:
                nxt.extend(sorted(c for c in cur.iterdir()
                                  if c.name != part and c.is_dir() and _squash(c.name) == want))
            except OSError:
                continue
        level = nxt
        if not level:
            break
    return level


def pick_per_key(found: list[FoundFile]) -> dict[int, Path]:
    """Per key (edition or year) the highest version; of equal versions the .sav, then .csv."""
    best: dict[int, FoundFile] = {}
    for f in found:
        cur = best.get(f.key)
        rank = (f.version, -_SUFFIX_RANK[f.path.suffix.lower()], str(f.path))
        if cur is None or rank > (cur.version, -_SUFFIX_RANK[cur.path.suffix.lower()], str(cur.path)):
            best[f.key] = f
    return {k: v.path for k, v in sorted(best.items())}


def newest(found: list[FoundFile], *, table: str, where: str) -> Path:
    """The newest edition's highest version, or a clear error when nothing matched."""
    picked = pick_per_key(found)
    if not picked:
        raise PipelineInputError(f"no file found for this table under {where}", table=table)
    return picked[max(picked)]


# --------------------------------------------------------------------------- typed reading

@dataclass(frozen=True)
class Col:
    """A column the pipeline needs: its CBS name, kind ("str" or "num"), width for codes."""
    name: str
    kind: str = "str"
    width: int | None = None
    required: bool = True


@dataclass
class TableSpec:
    table: str
    columns: list[Col] = field(default_factory=list)


_MISSING_STR = re.compile(r"^\s*(|-+|NA|NaN|nan|None)\s*$")


def _resolve_names(available: list[str], wanted: list[Col], *, path: Path, table: str) -> dict[str, str]:
    """Map each wanted CBS name to the file's column: exact name first, then case-insensitive
    (Stata conversions and synthetic test files differ in case only)."""
    lower = {}
    for a in available:
        lower.setdefault(a.lower(), a)
    out = {}
    for c in wanted:
        if c.name in available:
            out[c.name] = c.name
        elif c.name.lower() in lower:
            out[c.name] = lower[c.name.lower()]
            log.warning("%s: column %s found as %s in %s", table, c.name, lower[c.name.lower()], path.name)
        elif c.required:
            raise PipelineInputError(f"required column {c.name} is missing", file=str(path), table=table,
                                     column=c.name)
    return out


def _sav_metadata(path: Path):
    """pyreadstat's metadata of a .sav (names, number of rows), read once per file version: the
    header read costs about a quarter of a second for a million rows."""
    st = path.stat()
    return _sav_metadata_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _sav_metadata_cached(path: str, mtime_ns: int, size: int):
    import pyreadstat
    return pyreadstat.read_sav(path, metadataonly=True)[1]


def _column_names(path: Path, *, table: str) -> list[str]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".sav":
            return list(_sav_metadata(path).column_names)
        if suffix == ".csv":
            return list(pd.read_csv(path, nrows=0, sep=None, engine="python").columns)
        if suffix == ".parquet":
            import pyarrow.parquet as pq
            return list(pq.read_schema(path).names)
    except PipelineInputError:
        raise
    except Exception as exc:  # pyreadstat raises its own error classes for corrupt files
        raise PipelineInputError(f"cannot read file: {type(exc).__name__}: {exc}", file=str(path),
                                 table=table) from exc
    raise PipelineInputError(f"unsupported file type {suffix}", file=str(path), table=table)


def _stripped_text(s: pd.Series) -> pd.Series:
    """``s`` as stripped Python strings (object dtype), missing values as "".

    The same as ``s.astype(object).where(s.notna(), "").map(str).str.strip()``, without a Python
    call per value: non-strings (rare: converted files) still go through ``str``; only values
    whose first or last character is whitespace (by ``str.isspace``, as ``str.strip`` decides)
    are stripped in Python.
    """
    out = s.astype(object).where(s.notna(), "")
    if pd.api.types.infer_dtype(out, skipna=False) not in ("string", "empty"):
        out = out.map(str)
    values = out.to_numpy(dtype=object)
    if len(values):
        import pyarrow as pa
        import pyarrow.compute as pc
        try:
            arr = pa.array(values, type=pa.string())
        except (pa.ArrowException, UnicodeError):  # e.g. lone surrogates: the plain way
            return pd.Series(out.str.strip().to_numpy(dtype=object), index=s.index, dtype=object)
        first = pc.utf8_slice_codeunits(arr, 0, 1)
        last = pc.utf8_slice_codeunits(arr, -1, 2**31 - 1)
        ends = set(pc.unique(first).to_pylist()) | set(pc.unique(last).to_pylist())
        space = [c for c in ends if c and c.isspace()]
        if space:
            ws = pa.array(space, type=pa.string())
            hit = np.flatnonzero(pc.or_(pc.is_in(first, value_set=ws), pc.is_in(last, value_set=ws))
                                 .to_numpy(zero_copy_only=False))
            values = values.copy()
            values[hit] = [v.strip() for v in values[hit]]
    return pd.Series(values, index=s.index, dtype=object)


_ASCII_SPACE = "".join(chr(i) for i in range(128) if chr(i).isspace())   # \t\n\v\f\r, \x1c-\x1f, space


def _stripped_arrow(s: pd.Series):
    """:func:`_stripped_text` as a pyarrow string array, built straight from ``s``'s Python strings
    (missing values ""), so that a column on its way to Parquet is not turned into Python strings
    again; None when Arrow cannot take the values as they are (then the caller goes the plain way)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    values = s.to_numpy(dtype=object)
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)   # None and NaN -> null
    except (pa.ArrowException, UnicodeError):   # not all strings (converted files), lone surrogates
        return None
    arr = pc.fill_null(arr, "")
    if not len(arr):
        return arr
    if pc.all(pc.string_is_ascii(arr)).as_py():
        # str.strip() on ASCII text removes exactly the ASCII characters str.isspace() accepts
        return pc.ascii_trim(arr, characters=_ASCII_SPACE)
    first = pc.utf8_slice_codeunits(arr, 0, 1)
    last = pc.utf8_slice_codeunits(arr, -1, 2**31 - 1)
    ends = set(pc.unique(first).to_pylist()) | set(pc.unique(last).to_pylist())
    space = [c for c in ends if c and c.isspace()]
    if space:   # str.strip in Python where a value starts or ends with whitespace, as _stripped_text
        ws = pa.array(space, type=pa.string())
        mask = pc.or_(pc.is_in(first, value_set=ws), pc.is_in(last, value_set=ws))
        hit = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        arr = pc.replace_with_mask(arr, mask, pa.array([values[i].strip() for i in hit], type=pa.string()))
    return arr


def _arrow_column(s: pd.Series, col: Col, *, path: Path, table: str, warn: bool):
    """A raw column typed as read_table types it (see _as_code_strings, _as_numbers), as a pyarrow
    array: strings without nulls, numbers as float64 with null where pandas has NaN."""
    import pyarrow as pa
    if col.kind == "str":
        if not pd.api.types.is_numeric_dtype(s.dtype):
            arr = _stripped_arrow(s)
            if arr is not None:
                return arr
        return pa.array(_as_code_strings(s, col, path=path, table=table, warn=warn).to_numpy(dtype=object),
                        type=pa.string())
    return pa.array(_as_numbers(s, col, path=path, table=table, warn=warn).to_numpy(dtype="float64"),
                    from_pandas=True)


def frame_object_strings(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every string column as object dtype, missing values None (as pandas 2.2 in
    Remote Access gives them; pandas 3 would give its str dtype)."""
    for c in df.columns:
        if pd.api.types.is_string_dtype(df[c].dtype) and not pd.api.types.is_object_dtype(df[c].dtype):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def _ascii_arrow(text: pd.Series):
    """The stripped strings of :func:`_stripped_text` as a pyarrow array when every value is
    ASCII (then a regex's ``\\d`` means [0-9] in Python and in Arrow alike), else None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    arr = pa.array(text.to_numpy(dtype=object), type=pa.string())
    if len(arr) and not pc.all(pc.string_is_ascii(arr)).as_py():
        return None
    return arr


def _as_code_strings(s: pd.Series, col: Col, *, path: Path, table: str, warn: bool = True) -> pd.Series:
    """Strings as object dtype with CBS missing codes left as they are; numbers written by a
    converter (CSV, Stata) become zero-padded codes of the column's width (logged when ``warn``:
    once per file, not once per piece)."""
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        ok = np.isnan(vals) | (vals == np.floor(vals))
        if not ok.all():
            bad = s[~ok].iloc[0]
            raise PipelineInputError(f"expected a code (string), found non-integer number {bad!r}",
                                     file=str(path), table=table, column=col.name)
        out = pd.Series(np.where(np.isnan(vals), "", [f"{int(v)}" if not np.isnan(v) else "" for v in vals]),
                        index=s.index, dtype=object)
        if col.width:
            out = out.where(out == "", out.str.zfill(col.width))
        if warn:
            log.warning("%s: column %s is numeric in %s; read as %s-character codes", table, col.name,
                        path.name, col.width)
        return out.astype(object)
    return _stripped_text(s)


def _as_numbers(s: pd.Series, col: Col, *, path: Path, table: str, warn: bool = True) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    txt = s.astype(object).where(s.notna(), "").map(str).str.strip()
    txt = txt.where(~txt.str.fullmatch(r"-*|NA|NaN|nan"), "")
    num = pd.to_numeric(txt.str.replace(",", ".", regex=False).where(txt != "", None), errors="coerce")
    bad = num.isna() & (txt != "")
    if bad.any():
        raise PipelineInputError(f"expected numbers, found {txt[bad].iloc[0]!r} in {int(bad.sum())} rows",
                                 file=str(path), table=table, column=col.name)
    return num.astype("float64")


def read_table(path: str | Path, spec: TableSpec) -> pd.DataFrame:
    """Read only the spec's columns of a .sav/.csv/.parquet file, typed and validated.

    String columns come back as object dtype (as on pandas 2.2 in Remote Access), numbers as
    float64. Raises PipelineInputError naming file, table and column on anything unusable.
    """
    (df,) = read_table_pieces(path, spec, chunk_rows=None)
    return df


def read_table_pieces(path: str | Path, spec: TableSpec, *, chunk_rows: int | None = 250_000,
                      arrow: bool = False) -> Iterator[pd.DataFrame]:
    """:func:`read_table` in consecutive pieces of at most ``chunk_rows`` rows, so that a large
    .sav never sits in memory as a whole (pyreadstat's row_offset/row_limit). Each piece is typed
    and validated exactly as read_table does (every conversion is per value), with a fresh
    RangeIndex; concatenated they are read_table's frame. .csv and .parquet files, and
    ``chunk_rows=None``, give one piece; a .sav gives at most SAV_MAX_PIECES pieces. At least one
    piece comes, empty for an empty file.

    With ``arrow`` the pieces are pyarrow Tables with the same values (strings never null,
    numbers float64 with null for NaN), for writing to Parquet: the strings then go from the
    reader's Python strings to Arrow once, instead of to Arrow, back and to Arrow again.
    """
    path = Path(path)
    if not path.exists():
        raise PipelineInputError("file does not exist", file=str(path), table=spec.table)
    names = _column_names(path, table=spec.table)
    mapping = _resolve_names(names, spec.columns, path=path, table=spec.table)
    usecols = list(dict.fromkeys(mapping.values()))
    n_rows, n_pieces = 0, 0
    for df in _raw_pieces(path, usecols, table=spec.table, chunk_rows=chunk_rows):
        out = {}
        for c in spec.columns:
            if c.name not in mapping:
                continue
            s = df[mapping[c.name]]
            if arrow:
                out[c.name] = _arrow_column(s, c, path=path, table=spec.table, warn=n_pieces == 0)
            else:
                out[c.name] = (_as_code_strings if c.kind == "str" else _as_numbers)(
                    s, c, path=path, table=spec.table, warn=n_pieces == 0)
            del s
        if arrow:
            import pyarrow as pa
            piece = pa.table(out)
        else:
            piece = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
        del df, out
        n_rows += len(piece)
        n_pieces += 1
        yield piece
    log.info("read %s: %d rows%s, columns %s from %s", spec.table, n_rows,
             f" in {n_pieces} pieces" if n_pieces > 1 else "", [c.name for c in spec.columns if c.name in mapping],
             path)


SAV_MAX_PIECES = 16


def _raw_pieces(path: Path, usecols: list[str], *, table: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The file's ``usecols`` as read, untyped, in pieces (see :func:`read_table_pieces`)."""
    suffix = path.suffix.lower()

    def fail(exc: Exception) -> PipelineInputError:
        return PipelineInputError(f"cannot read file: {type(exc).__name__}: {exc}", file=str(path), table=table)

    if suffix == ".sav":
        import pyreadstat
        # output_format="dict": ReadStat's values as plain lists, which _sav_frame turns into
        # arrays. pyreadstat's own pandas frame costs about as much again as the read itself
        # (pandas 3 converts every string column to its Arrow-backed str dtype, which the typing
        # below then undoes); the frame that comes out is the same.
        kw = dict(usecols=usecols, apply_value_formats=False, user_missing=False, output_format="dict")
        try:
            total = None
            if chunk_rows is not None:
                total = _sav_metadata(path).number_rows   # None when the header does not say (defective files)
            if total is None or chunk_rows is None or total <= chunk_rows:
                df = _sav_frame(*pyreadstat.read_sav(str(path), **kw))
                pieces = None
            else:
                # In a compressed .sav, ReadStat decompresses the rows before row_offset to skip
                # them: at most SAV_MAX_PIECES pieces bound that to a few passes over the file.
                chunk_rows = max(chunk_rows, -(-total // SAV_MAX_PIECES))
                pieces = range(0, total, chunk_rows)
        except Exception as exc:  # pyreadstat raises its own error classes for corrupt files
            raise fail(exc) from exc
        if pieces is None:
            yield df
            return
        for offset in pieces:
            try:
                df = _sav_frame(*pyreadstat.read_sav(str(path), row_offset=offset, row_limit=chunk_rows, **kw))
            except Exception as exc:
                raise fail(exc) from exc
            yield df
            del df
        return
    try:
        if suffix == ".csv":
            df = pd.read_csv(path, usecols=usecols, dtype=str, keep_default_na=False, sep=None, engine="python")
        else:
            df = pd.read_parquet(path, columns=usecols)
    except Exception as exc:
        raise fail(exc) from exc
    yield df


def _sav_frame(columns: dict, meta) -> pd.DataFrame:
    """pyreadstat's dict output as the frame its pandas output would be: string columns as object
    arrays (a missing value None where pandas gives NaN), numeric columns as float64 with NaN,
    and columns of SPSS dates or times as object arrays of Python dates/times."""
    kinds = meta.readstat_variable_types
    out = {}
    for name, values in columns.items():
        arr = None
        if kinds.get(name) != "string":
            try:
                arr = np.array(values, dtype="float64")   # None (system missing) -> NaN
            except (TypeError, ValueError):               # dates and times are Python objects
                arr = None
        if arr is None:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
        out[name] = pd.Series(arr, dtype=arr.dtype, copy=False)
    n = len(next(iter(out.values()))) if out else 0
    return pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)


def code_or_missing(s: pd.Series, *, width: int) -> pd.Series:
    """A zero-padded code of ``width`` digits, or missing (None) for CBS's empty/dashed codes."""
    s = _stripped_text(s)
    arr = _ascii_arrow(s)
    if arr is None:  # non-ASCII text: Python's rules for \d and zfill
        digits = s.str.fullmatch(r"\d+") & (s.str.len() <= width)
        return s.str.zfill(width).where(digits, None).astype(object)
    import pyarrow.compute as pc
    ok = pc.and_(pc.match_substring_regex(arr, r"^[0-9]+$"), pc.less_equal(pc.utf8_length(arr), width))
    padded = pc.if_else(ok, pc.utf8_lpad(arr, width=width, padding="0"), None)
    return pd.Series(padded.to_numpy(zero_copy_only=False), index=s.index, dtype=object)


def yyyymmdd(s: pd.Series, *, open_value: int | None = None) -> pd.Series:
    """YYYYMMDD strings to int64; empty or dashed values become ``open_value`` (or -1)."""
    s = _stripped_text(s)
    fill = -1 if open_value is None else open_value
    arr = _ascii_arrow(s)
    if arr is None:  # non-ASCII text: Python's rules for \d
        ok = s.str.fullmatch(r"\d{8}")
        return pd.to_numeric(s.where(ok, None), errors="coerce").fillna(fill).astype("int64")
    import pyarrow as pa
    import pyarrow.compute as pc
    ok = pc.match_substring_regex(arr, r"^[0-9]{8}$")
    num = pc.cast(pc.if_else(ok, arr, None), pa.int64())
    return pd.Series(pc.fill_null(num, fill).to_numpy(), index=s.index, dtype="int64")


# --------------------------------------------------------------------------- writing

def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, path: str | Path, *, strings_as_object: bool = False) -> None:
    """``df.to_parquet(path, index=False)``, written atomically. With ``strings_as_object``, the
    Arrow-backed string columns are written as the same columns of object dtype would be (the
    same file, pandas metadata included), without making a Python string per value."""
    strings = [c for c in df.columns if _arrow_backed(df[c])] if strings_as_object else []
    table = _objects_table(df, strings) if strings else None
    if table is None:
        if strings:   # the plain way: the Python strings after all
            df = df.assign(**{c: pd.Series(object_strings(df[c]), index=df.index, dtype=object) for c in strings})
        _atomic(Path(path), lambda p: df.to_parquet(p, index=False))
        return
    import pyarrow.parquet as pq
    _atomic(Path(path), lambda p: pq.write_table(table, p, compression="snappy"))


def _objects_table(df: pd.DataFrame, strings: list[str]):
    """``pa.Table.from_pandas(df, preserve_index=False)`` as if the ``strings`` columns (Arrow-backed)
    were object columns of str and None: their type and the pandas metadata are those of a one-row
    stand-in frame whose object-like columns hold their first value present. None (write as
    pandas does) when ``df`` has no rows or Arrow cannot do it."""
    import pyarrow as pa
    if not len(df):
        return None
    stand_in = df.iloc[:1].copy()
    for c in df.columns:
        if c in strings or pd.api.types.is_object_dtype(df[c].dtype):
            first = df[c].first_valid_index()
            value = None if first is None else df[c].at[first]
            stand_in[c] = pd.Series([value if c not in strings or value is None else str(value)],
                                    index=stand_in.index, dtype=object)
    try:
        schema = pa.Schema.from_pandas(stand_in, preserve_index=False)
        table = pa.Table.from_pandas(df, preserve_index=False)
        return table.cast(schema).replace_schema_metadata(schema.metadata)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def write_parquet_pieces(pieces: Iterable, path: str | Path) -> int:
    """Write consecutive frames (pandas DataFrames or pyarrow Tables) as one Parquet file, piece by
    piece (one row group or more per piece), so that only one piece is held at a time; returns the
    number of rows.

    The file reads back as :func:`write_parquet` of the concatenated frames would: the schema,
    with its pandas metadata, is the first piece's; later pieces must have the same columns and
    are cast to it. Nothing is left at ``path`` when a piece fails.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0

    def write(p: Path) -> None:
        nonlocal n
        writer = None
        try:
            for piece in pieces:
                if writer is None:
                    schema = (piece.schema if isinstance(piece, pa.Table)
                              else pa.Schema.from_pandas(piece, preserve_index=False))
                    writer = pq.ParquetWriter(p, schema)
                if isinstance(piece, pa.Table):
                    writer.write_table(piece if piece.schema.equals(schema) else piece.cast(schema))
                else:
                    writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False))
                n += len(piece)
                del piece
            if writer is None:
                raise ValueError("no pieces to write")
        finally:
            if writer is not None:
                writer.close()

    _atomic(Path(path), write)
    return n


def read_attributes(path: str | Path) -> pd.DataFrame:
    """A GeoParquet file's attribute columns as a plain frame, without its geometry columns (named
    in the file's ``geo`` metadata) and without importing geopandas: what geopandas'
    ``read_parquet(path).drop(columns="geometry")`` gives, for steps that only need the codes
    and names of the areas."""
    import json

    import pyarrow.parquet as pq
    schema = pq.read_schema(path)
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    geometry = set(geo.get("columns", {})) or {"geometry"}
    return pd.read_parquet(path, columns=[c for c in schema.names if c not in geometry])


def read_parquet(path: str | Path, columns: list[str] | None = None, *,
                 rows_in: tuple[str, Iterable] | None = None, arrow_strings: bool = False) -> pd.DataFrame:
    """A Parquet file with strings as object dtype; ``rows_in=(column, values)`` reads only the
    rows whose ``column`` is one of ``values`` (filtered in Arrow, before pandas sees them; the
    rows keep their order, the index is a fresh RangeIndex). ``values`` may be a pyarrow array
    (built once for several files). ``arrow_strings=True`` leaves the strings as pandas reads
    them (Arrow-backed on pandas 3: no Python string per value; object on pandas 2), for steps
    that only join on them (see :func:`key_codes`, :func:`joined_strings`, :func:`object_strings`)."""
    if rows_in is None:
        df = pd.read_parquet(path, columns=columns)
    else:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        col, values = rows_in
        kind = pq.read_schema(path).field(col).type   # string or large_string: the value set must match
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            value_set = values if values.type == kind else values.cast(kind)
        else:
            value_set = pa.array(list(values), type=kind)
        # One is_in over the column (a dataset filter rebuilt the value set's hash table per batch).
        table = pq.read_table(path, columns=None if columns is None else list(dict.fromkeys(columns + [col])))
        table = table.filter(pc.is_in(table[col], value_set=value_set))
        if columns is not None:
            table = table.select(columns)
        df = table.to_pandas()
        del table
    if arrow_strings:
        return df
    # Remote Access runs pandas 2.2 (object strings); keep one behaviour on pandas 3 too.
    return frame_object_strings(df)


def parquet_columns(path: str | Path) -> list[str]:
    """The column names of a Parquet file, without reading its data."""
    import pyarrow.parquet as pq
    return list(pq.read_schema(path).names)


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    _atomic(Path(path), lambda p: df.to_csv(p, index=False, lineterminator="\n"))


def write_json(obj, path: str | Path, *, indent: int | None = 2) -> None:
    def w(p: Path) -> None:
        p.write_text(json.dumps(obj, indent=indent, ensure_ascii=False, default=_json_default) + "\n",
                     encoding="utf-8")
    _atomic(Path(path), w)


def write_text(text: str, path: str | Path) -> None:
    _atomic(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: str | Path) -> None:
    _atomic(Path(path), lambda p: p.write_bytes(data))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


# --------------------------------------------------------------------------- attrition

class Attrition:
    """Counts what each filter kept and dropped; the rows become reports/tables/attrition.csv."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.rows: list[dict] = []

    def record(self, check: str, *, before: int, after: int, unit: str = "persons") -> None:
        self.rows.append({"step": self.step, "check": check, "unit": unit, "n_before": int(before),
                          "n_after": int(after), "n_dropped": int(before) - int(after)})
        log.info("%s: kept %d of %d %s, dropped %d", check, after, before, unit, before - after)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "check", "unit", "n_before", "n_after", "n_dropped"])


def key_codes(frames: list[pd.DataFrame], on: str | list[str]) -> list[np.ndarray]:
    """Integer codes of the ``on`` values of each frame: two rows (of any of the frames) get the
    same code exactly when their ``on`` values are equal, missing values (None, NaN) being equal
    to each other as in ``pd.merge`` and ``duplicated``. Codes are dense: 0 .. (distinct keys - 1).

    String keys are encoded in Arrow, which compares the UTF-8 bytes as Python compares the
    strings; other values (or strings Arrow cannot take) go through ``pd.factorize``.
    """
    on = [on] if isinstance(on, str) else list(on)
    sizes = np.cumsum([0] + [len(f) for f in frames])
    if len(on) > 1 and (joined := _joined_key(frames, on)) is not None:
        code, _ = _encode_arrow(joined)   # one string per row for the whole key
        return [code[sizes[i]:sizes[i + 1]] for i in range(len(frames))]
    code = None
    for col in on:
        values = [f[col] for f in frames]
        if all(pd.api.types.is_numeric_dtype(v.dtype) or pd.api.types.is_bool_dtype(v.dtype) for v in values):
            c, k = _factorize(np.concatenate([v.to_numpy() for v in values]))
        elif any(_arrow_backed(v) for v in values) and (arrs := _arrow_string_arrays(values)) is not None:
            c, k = _encode_arrow(arrs)   # Arrow-backed strings: no Python string per value
        else:
            c, k = _factorize(np.concatenate([v.to_numpy(dtype=object) for v in values]))
        if code is None:
            code = c
        else:
            code, _ = _factorize(code * np.int64(k) + c)
    return [code[sizes[i]:sizes[i + 1]] for i in range(len(frames))]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense int64 codes of ``values`` with missing values as one more value; the number of codes."""
    if values.dtype == object:
        import pyarrow as pa
        import pyarrow.compute as pc
        try:
            arr = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            arr = None
        if isinstance(arr, pa.Array):
            enc = pc.dictionary_encode(arr, null_encoding="encode")
            return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _arrow_backed(values: pd.Series) -> bool:
    """Whether ``values`` holds Arrow strings (pandas 3's str dtype, or ``pd.ArrowDtype`` string)."""
    import pyarrow as pa
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        return True
    t = getattr(values.dtype, "pyarrow_dtype", None) if isinstance(values.dtype, pd.ArrowDtype) else None
    return t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t))


def _arrow_string_arrays(values: list[pd.Series]) -> list | None:
    """``values`` as pyarrow large_string chunked arrays (missing values null), or None when one
    of them holds something other than strings."""
    import pyarrow as pa
    out = []
    for v in values:
        if _arrow_backed(v):
            arr = pa.array(v.array)   # the Arrow data itself (__arrow_array__), no copy
            arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
            out.append(arr if arr.type == pa.large_string() else arr.cast(pa.large_string()))
            continue
        try:
            out.append(pa.chunked_array([pa.array(v.to_numpy(dtype=object), type=pa.large_string(),
                                                  from_pandas=True)]))
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            return None
    return out


def _joined_key(frames: list[pd.DataFrame], on: list[str]) -> list | None:
    """The ``on`` strings of each row joined into one (pyarrow chunked arrays, one per frame) when
    that keeps keys apart: every column a string column without missing values, and each column
    but the last of one byte length throughout (as RINPERSOONS, SOORTOBJECTNUMMER), so that two
    rows' joined strings are equal exactly when their keys are. Else None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if not all(_arrow_backed(f[c]) or pd.api.types.is_object_dtype(f[c].dtype) for f in frames for c in on):
        return None
    cols = []
    for c in on:
        arrs = _arrow_string_arrays([f[c] for f in frames])
        if arrs is None or any(a.null_count for a in arrs):
            return None
        cols.append(arrs)
    for arrs in cols[:-1]:
        lengths = [pc.min_max(pc.binary_length(a)) for a in arrs if len(a)]
        if len({v for mm in lengths for v in (mm["min"].as_py(), mm["max"].as_py())}) > 1:
            return None
    sep = pa.scalar("", pa.large_string())
    return [pc.binary_join_element_wise(*(cols[j][i] for j in range(len(on))), sep) for i in range(len(frames))]


def _encode_arrow(arrays: list) -> tuple[np.ndarray, int]:
    """Dense int64 codes of the values of ``arrays`` (pyarrow large_string chunked arrays, one
    after the other), missing values as one more value; the number of codes."""
    import pyarrow as pa
    import pyarrow.compute as pc
    chunks = [ch for a in arrays for ch in a.chunks]
    if not sum(len(ch) for ch in chunks):
        return np.zeros(0, dtype=np.int64), 0
    enc = pc.dictionary_encode(pa.concat_arrays(chunks), null_encoding="encode")
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


def joined_strings(left: pd.Series, right: pd.Series) -> pd.Series:
    """``left + right`` of two string columns (missing where either is missing), as Arrow strings
    (``pd.ArrowDtype``) with ``left``'s index when both columns are strings; otherwise the object
    Series ``(left + right).astype(object)``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    arrs = _arrow_string_arrays([left, right])
    if arrs is None:
        return (left + right).astype(object)
    joined = pc.binary_join_element_wise(arrs[0], arrs[1], pa.scalar("", pa.large_string()))   # null if either is
    return pd.Series(pd.arrays.ArrowExtensionArray(joined), index=left.index, name=None)


def arrow_strings(values: pd.Series | np.ndarray):
    """A string column (object or Arrow-backed; missing values None or NaN) as one pyarrow
    large_string array, missing values null."""
    import pyarrow as pa
    if isinstance(values, np.ndarray):
        values = pd.Series(values, dtype=object)
    arrs = _arrow_string_arrays([values])
    if arrs is None:
        raise TypeError("not a column of strings")
    return arrs[0].combine_chunks()


def positions_in(values: pd.Series | np.ndarray, keys) -> np.ndarray:
    """For each of ``values`` (strings) the position of its first occurrence in ``keys`` (a
    pyarrow array from :func:`arrow_strings`), -1 where it does not occur; a missing value finds
    a missing key (as ``pd.Index.get_indexer`` does)."""
    import pyarrow.compute as pc
    at = pc.index_in(arrow_strings(values), value_set=keys, skip_nulls=False)
    return pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def object_strings(values: pd.Series) -> np.ndarray:
    """A string column as an object array (missing values as None when Arrow-backed)."""
    import pyarrow as pa
    if _arrow_backed(values):
        return pa.array(values.array).to_numpy(zero_copy_only=False)
    return values.to_numpy(dtype=object)


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``pd.factorize(values, sort=True)`` for an object array: each value's rank among the
    distinct values (-1 for missing values) and the number of distinct values. Strings are
    ranked in Arrow (UTF-8 byte order, which is Python's order of str); other values, or strings
    Arrow cannot take, go through ``pd.factorize``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        codes, uniques = pd.factorize(values, sort=True)
        return codes.astype(np.int64, copy=False), len(uniques)
    enc = pc.dictionary_encode(arr)   # nulls stay null in the indices
    order = pc.array_sort_indices(enc.dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    idx = enc.indices
    codes = rank[pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)] if len(order) else np.zeros(len(idx), np.int64)
    if idx.null_count:
        codes[idx.is_null().to_numpy(zero_copy_only=False)] = -1
    return codes, len(order)


def duplicated_codes(codes: np.ndarray) -> np.ndarray:
    """``duplicated(keep=False)`` on codes from :func:`key_codes`: rows whose key occurs more than once."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    return np.bincount(codes)[codes] > 1


def duplicated_keys(frame: pd.DataFrame, on: str | list[str]) -> np.ndarray:
    """``frame.duplicated(on, keep=False)`` (missing values equal, as in :func:`key_codes`): rows
    whose key occurs more than once. Rows already in strictly increasing key order (as CBS
    delivers its tables) have no repeated key: then nothing is hashed."""
    import pyarrow.compute as pc
    on = [on] if isinstance(on, str) else list(on)
    joined = _joined_key([frame], on) if len(on) > 1 else _arrow_string_arrays([frame[on[0]]])
    if joined is not None and not joined[0].null_count:
        key = joined[0].combine_chunks()
        if len(key) < 2 or pc.all(pc.less(key.slice(0, len(key) - 1), key.slice(1))).as_py():
            return np.zeros(len(frame), dtype=bool)
    (codes,) = key_codes([frame], on)
    return duplicated_codes(codes)


def first_codes(codes: np.ndarray) -> np.ndarray:
    """``~duplicated(keep="first")`` on codes from :func:`key_codes`: each key's first row."""
    first = np.zeros(len(codes), dtype=bool)
    first[np.unique(codes, return_index=True)[1]] = True
    return first


def checked_lookup(left: pd.DataFrame, right: pd.DataFrame, *, on: str | list[str], what: str,
                   how: str = "left", validate: str = "m:1") -> np.ndarray:
    """``checked_merge(left, right, on=on, how=how, validate=validate)`` as row positions: for each
    left row (in order) the position of the right row with its key, -1 where there is none.

    ``how`` is "left" (every left row is in the result) or "inner" (the rows with a position
    >= 0 are); ``validate`` "m:1" or "1:1". Logs the join's shape as checked_merge does and
    raises ``pd.errors.MergeError`` as its validate does. Taking the columns at these positions
    is the join, without pd.merge's hashing of object keys and building a frame of both sides.
    """
    lc, rc = key_codes([left, right], on)
    return lookup_codes(lc, rc, what=what, how=how, validate=validate)


def lookup_codes(lc: np.ndarray, rc: np.ndarray, *, what: str, how: str = "left", validate: str = "m:1") -> np.ndarray:
    """:func:`checked_lookup` on the keys' codes (``lc``, ``rc`` from one :func:`key_codes` call
    over both sides), for callers that have the codes already; the same checks and log line."""
    if how not in ("left", "inner") or validate not in ("m:1", "1:1"):
        raise ValueError(f"lookup_codes does how='left'/'inner' with validate='m:1'/'1:1', not {how}, {validate}")
    if duplicated_codes(rc).any():
        raise pd.errors.MergeError("Merge keys are not unique in right dataset; not a many-to-one merge")
    if validate == "1:1" and duplicated_codes(lc).any():
        raise pd.errors.MergeError("Merge keys are not unique in left dataset; not a one-to-one merge")
    pos = np.full(int(max(lc.max(initial=-1), rc.max(initial=-1))) + 1, -1, dtype=np.int64)
    pos[rc] = np.arange(len(rc), dtype=np.int64)
    out = pos[lc]
    matched = int((out >= 0).sum())
    log.info("join %s (%s, %s): left %d rows, right %d rows, matched %d, result %d rows", what, how, validate,
             len(lc), len(rc), matched, len(lc) if how == "left" else matched)
    return out


def take(values, positions: np.ndarray, *, fill) -> np.ndarray:
    """``values`` (array or Series) at ``positions`` from :func:`checked_lookup`, ``fill`` where -1."""
    v = np.asarray(values)
    miss = positions < 0
    if not len(v):
        return np.full(len(positions), fill, dtype=v.dtype)
    out = v[np.where(miss, 0, positions)]   # fancy indexing: a new array
    out[miss] = fill
    return out


def checked_merge(left: pd.DataFrame, right: pd.DataFrame, *, on, how: str, validate: str,
                  what: str, **kw) -> pd.DataFrame:
    """``pd.merge`` that states its shape and logs how many left rows found a match."""
    out = left.merge(right, on=on, how=how, validate=validate, indicator="_m", **kw)
    matched = int((out["_m"] == "both").sum())
    log.info("join %s (%s, %s): left %d rows, right %d rows, matched %d, result %d rows", what, how,
             validate, len(left), len(right), matched, len(out))
    return out.drop(columns="_m")
