"""The target-year geography: every gemeente, wijk and buurt of the study region, from a boundary
file in the layout of CBS's Wijk- en buurtkaart (layer and column names from config)."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from . import io
from .errors import PipelineInputError

AREA_COLUMNS = ["area_code", "area_name", "level", "gemeente_code", "geometry"]


def read_areas(path: str, *, layers: dict[str, str], columns: dict[str, str], region: list[str]):
    """A GeoDataFrame (EPSG:28992) of all areas of ``region`` with :data:`AREA_COLUMNS`.

    Fails naming file, layer and column when a layer or column is missing or a region gemeente
    is absent from the file.
    """
    import geopandas as gpd
    import pyogrio

    try:
        available = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:
        raise PipelineInputError(f"cannot read boundary file: {exc}", file=path, table="geography") from exc
    frames = []
    for level in ("gemeente", "wijk", "buurt"):
        layer = layers[level]
        if layer not in available:
            raise PipelineInputError(f"layer {layer!r} not found (has {sorted(available)})", file=path,
                                     table=f"geography layer {layer}")
        code_col, name_col = columns[f"{level}_code"], columns[f"{level}_name"]
        g = gpd.read_file(path, layer=layer)
        for col in (code_col, name_col):
            if col not in g.columns:
                raise PipelineInputError("column missing from boundary layer", file=path,
                                         table=f"geography layer {layer}", column=col)
        code = g[code_col].astype(str).str.strip()
        gm = "GM" + code.str[2:6]
        g = gpd.GeoDataFrame({"area_code": code, "area_name": g[name_col].astype(str), "level": level,
                              "gemeente_code": gm}, geometry=g.geometry.values, crs=g.crs)
        if g.crs is None or g.crs.to_epsg() != 28992:
            g = g.set_crs(28992, allow_override=True) if g.crs is None else g.to_crs(28992)
        frames.append(g[g["gemeente_code"].isin(region)])
    areas = pd.concat(frames, ignore_index=True)
    missing = sorted(set(region) - set(areas.loc[areas["level"] == "gemeente", "area_code"]))
    if missing:
        raise PipelineInputError(f"region gemeenten {missing} are not in the boundary file", file=path,
                                 table=f"geography layer {layers['gemeente']}", column=columns["gemeente_code"])
    dup = areas.duplicated(["level", "area_code"])
    if dup.any():
        io.log.warning("%d duplicate area codes in the boundary file; first kept", int(dup.sum()))
        areas = areas[~dup]
    areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=28992)
    for level, n in areas["level"].value_counts().items():
        io.log.info("geography: %d %s areas in the region", n, level)
    return areas[AREA_COLUMNS].reset_index(drop=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline geography", description=__doc__)
    ap.add_argument("--boundaries", required=True)
    ap.add_argument("--layers", required=True, help="JSON {gemeente, wijk, buurt: layer}")
    ap.add_argument("--columns", required=True, help="JSON of the six code/name columns")
    ap.add_argument("--region", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    io.setup_logging("geography")
    areas = read_areas(a.boundaries, layers=json.loads(a.layers), columns=json.loads(a.columns), region=a.region)
    io.write_parquet(areas, a.out)  # a GeoDataFrame writes GeoParquet
    return 0
