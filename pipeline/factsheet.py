"""Fact sheets ("feitenbladen"): one per gemeente and one for the region, as HTML and PDF.

Every number comes from the released tables (``reports/tables/transmission_{level}.csv`` and
``young_adults_{level}.csv``, methodology §11); national figures are benchmarks from config,
printed with their source. The HTML carries its figures inline (PNG data URIs) so that it opens
anywhere without a network; the PDF is the same page rendered by WeasyPrint.

Run as ``python -m pipeline factsheet --areas AREAS.parquet --tables-dir reports/tables
--out-dir reports/factsheets --region-name Veenkoloniën``.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from . import maps

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
YOUNG_ADULT_TEXT = {"area_code": str, "area_name": str, "level": str, "suppressed": str}


class FactsheetError(ValueError):
    """An input table, column or option the fact sheets cannot be made from."""


@dataclass(frozen=True)
class Figure_:
    """One key figure: the column, its Dutch label and a one-line explanation."""

    column: str
    label: str
    explain: str


KEY_FIGURES = (
    Figure_("n_children", "Kinderen in het cohort",
            "opgegroeid in het gebied (adres op 15-jarige leeftijd), met bekende status"),
    Figure_("outflow", "Uitstroom",
            "kans op een laag inkomen als jongvolwassene, bij ouders met een laag inkomen"),
    Figure_("p_child_poor_parents_not_poor", "Kans bij niet-arme ouders",
            "kans op een laag inkomen als jongvolwassene, bij ouders zonder laag inkomen"),
    Figure_("inflow", "Instroom",
            "aandeel met ouders met een laag inkomen, onder jongvolwassenen met een laag inkomen"),
    Figure_("abs_mobility_p25", "Verwachte inkomensrang (p25)",
            "verwachte rang (0-100) als jongvolwassene bij ouders op het 25e percentiel"),
    Figure_("p_q1_q1", "Laagste naar laagste kwintiel",
            "kans om bij ouders in de laagste 20% zelf in de laagste 20% te belanden"),
)


# --------------------------------------------------------------------------- formatting

def _unit(column: str) -> str:
    return "count" if column.startswith("n_") else maps.measure_info(column).unit


def format_cell(row: Mapping | None, column: str) -> dict:
    """Value, 95% interval and a note for one table cell, formatted the Dutch way.

    Parameters
    ----------
    row : mapping or None
        One released table row (``None``: the area has no row).
    column : str
        A count (``n_...``) or a §7 measure.
    """
    if row is None:
        return {"value": "niet gepubliceerd", "interval": "", "note": ""}
    value = _float(row.get(column))
    if _unit(column) == "count":
        return {"value": maps.format_count(value), "interval": "", "note": ""}
    unit = _unit(column)
    interval = maps.format_range(_float(row.get(f"{column}_ci_low")),
                                 _float(row.get(f"{column}_ci_high")), unit)
    note = ""
    shrunk = _float(row.get(f"{column}_eb"))
    if np.isfinite(value) and np.isfinite(shrunk):
        note = f"gekrompen: {maps.format_value(shrunk, unit)}"
    return {"value": maps.format_value(value, unit), "interval": interval, "note": note}


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def compare(row: Mapping | None, reference: Mapping | None, column: str) -> str:
    """"hoger", "lager" or "gelijk" when the 95% interval of ``row`` lies wholly above, below
    or around the reference value; "" when either is not published.

    Parameters
    ----------
    row, reference : mapping or None
        The area's and the reference area's released rows.
    column : str
    """
    if row is None or reference is None:
        return ""
    low, high = _float(row.get(f"{column}_ci_low")), _float(row.get(f"{column}_ci_high"))
    ref = _float(reference.get(column))
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(ref)):
        return ""
    if low > ref:
        return "hoger"
    if high < ref:
        return "lager"
    return "gelijk"


# --------------------------------------------------------------------------- content

def key_figure_rows(area: Mapping | None, region: Mapping | None, *,
                    benchmarks: Mapping[str, tuple[float, str]], with_region: bool) -> list[dict]:
    """Rows of the key-figure table: the area, the region (when ``with_region``) and the
    national benchmark where config gives one.

    Parameters
    ----------
    area, region : mapping or None
        Released ``totaal`` rows of the area and of the region.
    benchmarks : mapping of column to (value, source)
    with_region : bool
        False on the region's own sheet.
    """
    rows = []
    for fig in KEY_FIGURES:
        cells = [format_cell(area, fig.column)]
        if with_region:
            cells.append(format_cell(region, fig.column))
        if fig.column in benchmarks:
            value, _ = benchmarks[fig.column]
            cells.append({"value": maps.format_value(value, _unit(fig.column)),
                          "interval": "", "note": "CBS, landelijk; andere definitie"})
        else:
            cells.append({"value": "-", "interval": "", "note": ""})
        rows.append({"label": fig.label, "explain": fig.explain, "cells": cells})
    return rows


def plain_text(area: Mapping | None, region: Mapping | None, *, name: str, region_name: str,
               benchmarks: Mapping[str, tuple[float, str]], is_region: bool,
               child_ages: Sequence[int]) -> tuple[list[str], list[str]]:
    """What the figures mean and what they do not mean, in plain Dutch.

    Parameters
    ----------
    area, region : mapping or None
        Released ``totaal`` rows of the area and the region.
    name, region_name : str
    benchmarks : mapping of column to (value, source)
    is_region : bool
        The region's own sheet (no comparison with itself).
    child_ages : (int, int)
        Ages at which the child's income is measured.
    """
    ages = f"{child_ages[0]}-{child_ages[1]} jaar"
    meaning = []
    outflow = _float(area.get("outflow")) if area else np.nan
    if np.isfinite(outflow):
        pct = maps.format_value(outflow, "pct")
        interval = maps.format_range(_float(area.get("outflow_ci_low")),
                                     _float(area.get("outflow_ci_high")), "pct")
        meaning.append(
            f"Van de kinderen die in {name} opgroeiden bij ouders met een laag inkomen, had "
            f"{pct} op {ages} zelf een laag inkomen (95%-interval {interval}). Dat interval "
            f"geeft aan hoe zeker het cijfer is: met zo weinig kinderen kan het toeval een paar "
            f"procentpunten schelen.")
        if not is_region:
            verdict = compare(area, region, "outflow")
            region_pct = maps.format_value(_float(region.get("outflow")) if region else np.nan,
                                           "pct")
            text = {"hoger": f"Dat is duidelijk hoger dan in de hele regio {region_name} "
                             f"({region_pct}).",
                    "lager": f"Dat is duidelijk lager dan in de hele regio {region_name} "
                             f"({region_pct}).",
                    "gelijk": f"Dat verschilt niet duidelijk van de hele regio {region_name} "
                              f"({region_pct}): het verschil past binnen de onzekerheid."}.get(verdict)
            if text:
                meaning.append(text)
    else:
        meaning.append(
            f"De uitstroom (kans op een laag inkomen bij ouders met een laag inkomen) is voor "
            f"{name} niet gepubliceerd: er zijn te weinig gevallen om het cijfer veilig en "
            f"betrouwbaar te tonen.")
    not_poor = _float(area.get("p_child_poor_parents_not_poor")) if area else np.nan
    if np.isfinite(not_poor) and np.isfinite(outflow):
        meaning.append(
            f"Ter vergelijking: van de kinderen van ouders zonder laag inkomen had "
            f"{maps.format_value(not_poor, 'pct')} een laag inkomen. Het verschil tussen die "
            f"twee kansen is wat 'overerfbare armoede' hier meet.")
    mobility = _float(area.get("abs_mobility_p25")) if area else np.nan
    if np.isfinite(mobility):
        meaning.append(
            f"Een kind van ouders op het 25e percentiel van de inkomens kwam gemiddeld uit op "
            f"rang {maps.format_value(mobility, 'rank')} van 100 (50 is het midden van het "
            f"land).")
    if "outflow" in benchmarks:
        value, _ = benchmarks["outflow"]
        meaning.append(
            f"Landelijk vond het CBS {maps.format_value(value, 'pct')}, maar voor een ouder "
            f"cohort, een ander jaar en een iets andere definitie: gebruik dat getal als "
            f"ijkpunt, niet als directe vergelijking.")
    not_meaning = [
        "De cijfers zeggen niet dat opgroeien in dit gebied armoede veroorzaakt: de gezinnen "
        "verschillen ook in opleiding, werk, gezondheid en andere zaken die hier niet zijn "
        "gemeten.",
        "Ze zeggen niets over individuele gezinnen of kinderen: het zijn gemiddelden over "
        "groepen.",
        "Het gebied is waar het kind op 15-jarige leeftijd woonde, niet waar het nu woont.",
        "Een niet-gepubliceerd cijfer is geen nul: het is weggelaten omdat er te weinig "
        "gevallen zijn (geheimhouding en betrouwbaarheid).",
        "Een gekrompen schatting trekt kleine gebieden naar het gemiddelde van de gemeente "
        "(of regio): zo verdwijnt toeval, maar ook een deel van het echte verschil.",
    ]
    return meaning, not_meaning


def trend_figure(young: pd.DataFrame, *, codes: Sequence[str], names: Sequence[str],
                 synthetic: bool, figsize: tuple[float, float] = (7.5, 2.6)) -> Figure | None:
    """Share of young adults with a low income per income year, with 95% intervals, for each
    area in ``codes`` (the gemeente and the region); ``None`` when nothing is published.

    Parameters
    ----------
    young : DataFrame
        Released young-adult rows of all areas (columns ``year, area_code, share_poor,
        share_poor_ci_low, share_poor_ci_high``).
    codes, names : sequences of str
        Areas to draw and their legend names; the first is drawn darkest.
    synthetic : bool
        Mark the figure "SYNTHETISCHE DATA".
    figsize : (float, float)
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_axes((0.09, 0.16, 0.62, 0.78))
    styles = [{"color": "#1a1a1a", "marker": "o", "linestyle": "-"},
              {"color": "#7f7f7f", "marker": "s", "linestyle": "--"}]
    drawn = 0
    for code, name, style in zip(codes, names, styles):
        part = young[young["area_code"] == code].sort_values("year")
        part = part[np.isfinite(part["share_poor"].to_numpy(dtype=float))]
        if part.empty:
            continue
        x = part["year"].to_numpy(dtype=int)
        ax.fill_between(x, 100 * part["share_poor_ci_low"].to_numpy(dtype=float),
                        100 * part["share_poor_ci_high"].to_numpy(dtype=float),
                        color=style["color"], alpha=0.15, linewidth=0)
        ax.plot(x, 100 * part["share_poor"].to_numpy(dtype=float), label=name, markersize=4,
                **style)
        drawn += 1
    if not drawn:
        return None
    ax.set_ylabel("met laag inkomen")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}%"))
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9,
              title="banden: 95%-interval", title_fontsize=8)
    if synthetic:
        ax.text(0.5, 0.5, maps.SYNTHETIC_LABEL, transform=ax.transAxes, rotation=15,
                fontsize=22, fontweight="bold", color="#b00000", alpha=0.18, ha="center",
                va="center")
    return fig


def figure_data_uri(fig: Figure, *, dpi: int = 150) -> str:
    """The figure as a PNG data URI, for a page that loads nothing from elsewhere."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(context: Mapping) -> str:
    """Fill the fact-sheet template (``pipeline/templates/factsheet.html.j2``)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined)
    return env.get_template("factsheet.html.j2").render(**context)


def write_pdf(page: str, path: Path) -> Path:
    """Render ``page`` to PDF with WeasyPrint, atomically.

    WeasyPrint needs the pango library (Debian ``libpango-1.0-0 libpangoft2-1.0-0``; on conda
    it comes with the package); without it this fails with a message saying so.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise FactsheetError(
            f"{path}: WeasyPrint cannot be loaded ({type(exc).__name__}: {exc}); install it "
            "with its system library pango (Debian: apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0) or run with --no-pdf") from None
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return maps._write_atomic(
        Path(path), lambda tmp: weasyprint.HTML(string=page, base_url=str(TEMPLATE_DIR))
        .write_pdf(str(tmp)))


def _totaal_row(table: pd.DataFrame, code: str) -> dict | None:
    rows = table[table["area_code"] == code]
    return rows.iloc[0].to_dict() if len(rows) else None


def build_factsheet(
    *,
    code: str | None,
    tables: Mapping[str, pd.DataFrame],
    young: Mapping[str, pd.DataFrame],
    areas: gpd.GeoDataFrame,
    region_name: str,
    benchmarks: Mapping[str, tuple[float, str]],
    map_measure: str,
    map_level: str,
    cohort: Sequence[int],
    child_ages: Sequence[int],
    young_ages: Sequence[int],
    synthetic: bool = True,
    date: dt.date | str | None = None,
) -> str:
    """Return the HTML of one fact sheet: a gemeente's (``code``) or the region's (``None``).

    Parameters
    ----------
    code : str or None
        Gemeente code such as "GM0765"; ``None`` for the region.
    tables : mapping of level to DataFrame
        Released ``transmission_{level}`` tables (``totaal`` rows) for "gemeente", "region"
        and ``map_level``.
    young : mapping of level to DataFrame
        Released ``young_adults_{level}`` tables for "gemeente" and "region".
    areas : GeoDataFrame
        All areas (EPSG:28992).
    region_name : str
        The region's name, also its ``area_code`` in the region tables.
    benchmarks : mapping of column to (value, source)
        National figures, printed with their source.
    map_measure, map_level : str
        What the sheet's map shows.
    cohort, child_ages, young_ages : (int, int)
        Birth years of the cohort, ages of the child's income, ages of the young adults.
    synthetic : bool
        Mark everything "SYNTHETISCHE DATA".
    date : date or str, optional
        Printed in the footer; today when omitted.
    """
    is_region = code is None
    region = _totaal_row(tables["region"], region_name)
    if region is None:
        raise FactsheetError(f"transmission_region.csv: no row for the region {region_name!r}")
    if is_region:
        area, name = region, region_name
    else:
        area = _totaal_row(tables["gemeente"], code)
        if area is None:
            raise FactsheetError(f"transmission_gemeente.csv: no row for {code}")
        name = str(area["area_name"])
    gemeenten = None if is_region else [code]
    title_map = maps.measure_info(map_measure)
    map_fig = maps.make_static_map(tables[map_level], areas, measure=map_measure,
                                   level=map_level, gemeenten=gemeenten, synthetic=synthetic,
                                   date=date, figsize=(9.0, 6.6))
    young_codes = [region_name] if is_region else [code, region_name]
    young_names = [region_name] if is_region else [name, f"regio {region_name}"]
    young_all = pd.concat([young["region"], young["gemeente"]], ignore_index=True)
    trend = trend_figure(young_all, codes=young_codes, names=young_names, synthetic=synthetic)
    meaning, not_meaning = plain_text(area, region, name=name, region_name=region_name,
                                      benchmarks=benchmarks, is_region=is_region,
                                      child_ages=child_ages)
    columns = [name] + ([] if is_region else [f"Regio {region_name}"]) + ["Nederland"]
    sources = "; ".join(f"{maps.measure_info(c).label}: {src}"
                        for c, (_, src) in benchmarks.items())
    date_text = maps._format_date(date)
    source_line = maps.SYNTHETIC_SOURCE_LINE if synthetic else maps.REAL_SOURCE_LINE
    definitions = [
        ("Cohort", f"Kinderen geboren in {cohort[0]}-{cohort[1]}, ingezetenen (RINPERSOONS R), "
                   "met ten minste één ouder in KINDOUDERTAB."),
        ("Gebied van opgroeien", "Buurt, wijk en gemeente van het adres op de 15e verjaardag "
                                 "(GBAADRESOBJECTBUS), in de gebiedsindeling van één peiljaar "
                                 "(VSLGWBTAB)."),
        ("Laag inkomen", "Huishoudensinkomen onder de lage-inkomensgrens van het CBS (INHATAB, "
                         "INHARMLAG < 100). Ouders: in minstens de helft van de jaren waarin het "
                         "kind 12-17 was. Kind: in minstens de helft van de jaren op "
                         f"{child_ages[0]}-{child_ages[1]} jaar."),
        ("Uitstroom en instroom", "Uitstroom: kans op een laag inkomen als jongvolwassene bij "
                                  "ouders met een laag inkomen (richting van het CBS). Instroom: "
                                  "aandeel met ouders met een laag inkomen onder jongvolwassenen "
                                  "met een laag inkomen (richting van de Veenkoloniënmonitor)."),
        ("Verwachte inkomensrang (p25)", "Uit een rechte lijn door de inkomensrangen van ouders "
                                         "en kinderen in het gebied, afgelezen bij ouders op het "
                                         "25e percentiel (Opportunity Atlas)."),
        ("95%-interval", "Wilson-interval voor kansen, robuuste (HC1) standaardfouten voor "
                         "regressies. Het echte cijfer ligt met 95% zekerheid in dit bereik."),
        ("Gekrompen schatting", "Empirisch Bayes: een gewogen gemiddelde van de eigen schatting "
                                "en het gemiddelde van de gemeente (of regio), met meer gewicht "
                                "voor het eigen cijfer naarmate het betrouwbaarder is."),
        ("Jongvolwassenen", f"Personen van {young_ages[0]}-{young_ages[1]} jaar die op 31 "
                            "december in het gebied wonen, in een huishouden met bekend inkomen "
                            "(de kijk van de Veenkoloniënmonitor: waar ze nu wonen)."),
        ("Geheimhouding", "Een cijfer is alleen gepubliceerd als het op ten minste 10 personen "
                          "(en 10 gevallen aan beide kanten van een kans) rust; anders staat er "
                          "'niet gepubliceerd'."),
        ("Landelijke cijfers", sources or "geen"),
        ("Bron", f"{source_line}; gemaakt met de open workflow 'overerfbare armoede in de "
                 f"Veenkoloniën' op {date_text}."),
    ]
    context = {
        "title": f"Feitenblad overerfbare armoede: {name}",
        "subtitle": ("Regio " if is_region else "Gemeente ") + f"{name} · kinderen geboren "
                    f"{cohort[0]}-{cohort[1]} · {date_text}",
        "synthetic": synthetic,
        "columns": columns,
        "rows": key_figure_rows(area, region, benchmarks=benchmarks, with_region=not is_region),
        "table_note": ("Per gebied waar de kinderen opgroeiden. 'Nederland' is een landelijk "
                       "CBS-cijfer voor een ouder cohort met een andere meetperiode, ter "
                       "oriëntatie; zie bronnen."),
        "meaning": meaning,
        "not_meaning": not_meaning,
        "map_heading": f"Kaart: {title_map.label.lower()} per {map_level}",
        "map_png": figure_data_uri(map_fig),
        "trend_png": figure_data_uri(trend) if trend is not None else "",
        "trend_note": (f"Aandeel van de jongvolwassenen ({young_ages[0]}-{young_ages[1]} jaar) "
                       "met een laag inkomen, naar gemeente waar ze nu wonen, per inkomensjaar; "
                       "jaren zonder gepubliceerd cijfer ontbreken."),
        "definitions": definitions,
        "footer": f"{source_line} · {date_text}"
                  + (" · SYNTHETISCHE DATA" if synthetic else ""),
    }
    return render_html(context)


# --------------------------------------------------------------------------- reading, main

def read_young_adults(path: Path) -> pd.DataFrame:
    """Read one released ``young_adults_{level}.csv``; fails naming file and column."""
    path = Path(path)
    if not path.is_file():
        raise FactsheetError(f"{path}: table not found")
    table = pd.read_csv(path, dtype=YOUNG_ADULT_TEXT, keep_default_na=False, na_values=[""])
    needed = ["year", "area_code", "share_poor", "share_poor_ci_low", "share_poor_ci_high"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise FactsheetError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in needed[2:] + ["year"]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def parse_benchmarks(text: str) -> dict[str, tuple[float, str]]:
    """Benchmarks as JSON ``[{"measure": ..., "value": ..., "source": ...}]`` (config)."""
    try:
        items = json.loads(text) if text else []
        return {item["measure"]: (float(item["value"]), str(item["source"])) for item in items}
    except (ValueError, KeyError, TypeError) as exc:
        raise FactsheetError(f"--benchmarks: {exc}") from None


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline factsheet",
                                     description="Fact sheets per gemeente and for the region.")
    parser.add_argument("--areas", type=Path, required=True)
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--region-name", required=True)
    parser.add_argument("--gemeenten", nargs="+", required=True, help="gemeente codes")
    parser.add_argument("--map-measure", default="abs_mobility_p25_eb")
    parser.add_argument("--map-level", default="buurt", choices=maps.LEVELS)
    parser.add_argument("--benchmarks", default="[]", help="JSON list of measure/value/source")
    parser.add_argument("--cohort", nargs=2, type=int, default=[1995, 1998])
    parser.add_argument("--child-ages", nargs=2, type=int, default=[24, 27])
    parser.add_argument("--young-ages", nargs=2, type=int, default=[22, 26])
    parser.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``feitenblad_{gemeente code}.html/.pdf`` and ``feitenblad_regio.html/.pdf``."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s factsheet %(levelname)s %(message)s", force=True)
    from .io import write_text

    written: list[Path] = []
    try:
        benchmarks = parse_benchmarks(args.benchmarks)
        areas = maps.read_areas(args.areas)
        levels = sorted({"gemeente", args.map_level}, key=maps.LEVELS.index)
        tables = {lv: maps.read_transmission_table(args.tables_dir / f"transmission_{lv}.csv",
                                                   measure=[args.map_measure])
                  for lv in levels}
        tables["region"] = maps.read_transmission_table(
            args.tables_dir / "transmission_region.csv")
        young = {lv: read_young_adults(args.tables_dir / f"young_adults_{lv}.csv")
                 for lv in ("gemeente", "region")}
        for code in [*args.gemeenten, None]:
            page = build_factsheet(
                code=code, tables=tables, young=young, areas=areas,
                region_name=args.region_name, benchmarks=benchmarks,
                map_measure=args.map_measure, map_level=args.map_level, cohort=args.cohort,
                child_ages=args.child_ages, young_ages=args.young_ages,
                synthetic=args.synthetic, date=args.date)
            stem = args.out_dir / f"feitenblad_{code or 'regio'}"
            write_text(page, stem.with_suffix(".html"))
            written.append(stem.with_suffix(".html"))
            if args.pdf:
                written.append(write_pdf(page, stem.with_suffix(".pdf")))
    except (FactsheetError, maps.MapInputError) as exc:
        print(f"factsheet: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
