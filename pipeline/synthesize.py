"""Synthetic CBS Remote Access microdata for the Veenkoloniën, with a planted truth.

Writes, under one output folder:

- ``cbs/``: a raw tree laid out like the Remote Access ``G:`` drive (GBAPERSOONTAB, KINDOUDERTAB,
  GBAADRESOBJECTBUS, VSLGWBTAB, INHATAB and KOPPELPERSOONHUISHOUDEN from 2011, IHI and
  Koppeltabel_IPI_IHI_IVB for income years before 2011, INHARMATAB from 2018) in the formats of
  ``shared/spec/cbs-microdata.md``: SPSS ``.sav`` files with A-format strings, value labels and CBS
  missing codes, several editions and versions, and a few percent of realistic dirt;
- ``geo/wijkenbuurten_{Y}_synthetisch.gpkg``: gemeenten, wijken and buurten in the layout of the
  CBS Wijk- en buurtkaart, with Voronoi neighbourhoods around the real towns and villages;
- ``truth/``: the planted truth (per buurt and wijk, and per child), never inside ``cbs/``.

The model in a few lines: families live in buurten; a family is poor during childhood with the
buurt's ``p_parents_poor``; a child is poor as a young adult with the ``outflow_propensity`` of the
buurt it lived in at 15 when its parents were poor, else with ``p_child_poor_parents_not_poor``.
Poverty status is persistent (a poor household is below the lage-inkomensgrens in most years), so the
"poor in at least half of the valid years" rule of methodology.md recovers it. Two clusters
("noordoost" and "emmen") pass poverty on far more often than the rest of the region.

This module shares no code with the analysis (STYLE.md): it imports nothing from ``pipeline``.
Everything is vectorised over persons; the only loops run over areas, years and files.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
from scipy.special import ndtr, ndtri

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# Constants: geography
# ----------------------------------------------------------------------------------------------

GEMEENTE_NAMES = {
    "1680": "Aa en Hunze", "1681": "Borger-Odoorn", "0114": "Emmen", "1952": "Midden-Groningen",
    "1895": "Oldambt", "0765": "Pekela", "0037": "Stadskanaal", "0047": "Veendam",
    "1950": "Westerwolde", "0014": "Groningen", "0106": "Assen", "0109": "Coevorden",
    # before the 2018 mergers
    "0018": "Hoogezand-Sappemeer", "1987": "Menterwolde", "0040": "Slochteren",
    "0048": "Vlagtwedde", "0007": "Bellingwedde",
}
CORE_GEMEENTEN = ("1680", "1681", "0114", "1952", "1895", "0765", "0037", "0047", "1950")
MERGER_YEAR = 2018          # Midden-Groningen and Westerwolde exist from 1 January 2018
RENUMBERED_GEMEENTE = "0047"  # its buurten get new numbers in the years after the target year
RENUMBER_OFFSET = 50
VSLGWB_FIRST_YEAR = 2015

# One row per wijk: (gemeente, gemeente before 2018, name, RD x, RD y, inhabitants, kind, cluster).
# kind "u" is a ward of a town, "v" a village with its "Verspreide huizen". Coordinates are the
# approximate RD New (EPSG:28992) centres of the real places; inhabitants roughly those of 2022.
PLACES: tuple[tuple[str, str, str, int, int, int, str, str], ...] = (
    # Aa en Hunze
    ("1680", "1680", "Annen", 244700, 564200, 3600, "v", ""),
    ("1680", "1680", "Eext", 245100, 559300, 1450, "v", ""),
    ("1680", "1680", "Anloo", 243100, 562500, 700, "v", ""),
    ("1680", "1680", "Schipborg", 241500, 565300, 610, "v", ""),
    ("1680", "1680", "Eexterveen", 250000, 563800, 720, "v", ""),
    ("1680", "1680", "Annerveenschekanaal", 249200, 566400, 800, "v", ""),
    ("1680", "1680", "Gasselte", 249600, 555200, 1850, "v", ""),
    ("1680", "1680", "Gasselternijveen", 253300, 556800, 1850, "v", ""),
    ("1680", "1680", "Gasselternijveenschemond", 256400, 558000, 690, "v", ""),
    ("1680", "1680", "Gieten", 248200, 558100, 5050, "v", ""),
    ("1680", "1680", "Gieterveen", 253200, 560700, 1250, "v", ""),
    ("1680", "1680", "Rolde", 239600, 556200, 4900, "v", ""),
    ("1680", "1680", "Grolloo", 241500, 549000, 1130, "v", ""),
    ("1680", "1680", "Ekehaar", 236300, 551500, 530, "v", ""),
    # Borger-Odoorn
    ("1681", "1681", "Borger", 249600, 549600, 4950, "v", ""),
    ("1681", "1681", "Buinen", 252900, 549200, 790, "v", ""),
    ("1681", "1681", "Drouwen", 248000, 552600, 680, "v", ""),
    ("1681", "1681", "Drouwenermond", 257100, 555500, 840, "v", ""),
    ("1681", "1681", "Nieuw-Buinen", 258300, 552900, 4870, "v", ""),
    ("1681", "1681", "Buinerveen", 255000, 551000, 420, "v", ""),
    ("1681", "1681", "Ees", 251200, 546100, 650, "v", ""),
    ("1681", "1681", "Exloo", 254500, 544600, 1680, "v", ""),
    ("1681", "1681", "Odoorn", 253300, 541500, 2300, "v", ""),
    ("1681", "1681", "Valthe", 256100, 540700, 1230, "v", ""),
    ("1681", "1681", "Klijndijk", 254400, 539500, 760, "v", ""),
    ("1681", "1681", "2e Exloërmond", 259400, 548200, 2650, "v", ""),
    ("1681", "1681", "Valthermond", 261300, 545000, 3500, "v", ""),
    # Emmen
    ("0114", "0114", "Emmen-Centrum", 256700, 533900, 4230, "u", "emmen"),
    ("0114", "0114", "Emmen over 't Spoor", 257500, 533600, 2980, "u", "emmen"),
    ("0114", "0114", "Emmermeer", 256500, 535700, 6090, "u", "emmen"),
    ("0114", "0114", "Angelslo", 259000, 533600, 7690, "u", "emmen"),
    ("0114", "0114", "Emmerhout", 259700, 534900, 7080, "u", "emmen"),
    ("0114", "0114", "Emmerschans", 259700, 535900, 1150, "u", "emmen"),
    ("0114", "0114", "Bargeres", 256000, 531500, 8860, "u", "emmen"),
    ("0114", "0114", "Rietlanden", 256500, 529900, 9220, "u", ""),
    ("0114", "0114", "Parc Sandur", 257300, 528500, 2040, "u", ""),
    ("0114", "0114", "Delftlanden", 254600, 530600, 1880, "u", ""),
    ("0114", "0114", "Noordbarge", 255800, 532800, 1500, "u", ""),
    ("0114", "0114", "Barger-Oosterveld", 260900, 532400, 3040, "u", "emmen"),
    ("0114", "0114", "Weerdinge", 257900, 537900, 1100, "v", ""),
    ("0114", "0114", "Nieuw-Weerdinge", 261700, 541200, 3410, "v", ""),
    ("0114", "0114", "Roswinkel", 266200, 540200, 830, "v", ""),
    ("0114", "0114", "Emmer-Compascuum", 266300, 536700, 5100, "v", "emmen"),
    ("0114", "0114", "Emmer-Erfscheidenveen", 264900, 537300, 2670, "v", "emmen"),
    ("0114", "0114", "Barger-Compascuum", 266500, 530900, 1960, "v", "emmen"),
    ("0114", "0114", "Nieuw-Dordrecht", 261700, 530300, 2070, "v", ""),
    ("0114", "0114", "Nieuw-Amsterdam", 254800, 525700, 4710, "v", ""),
    ("0114", "0114", "Veenoord", 253500, 525900, 2120, "v", ""),
    ("0114", "0114", "Erica", 258900, 526300, 4730, "v", ""),
    ("0114", "0114", "Klazienaveen-Noord", 262800, 528100, 6000, "u", "emmen"),
    ("0114", "0114", "Klazienaveen-Zuid", 263600, 526800, 5960, "u", "emmen"),
    ("0114", "0114", "Zwartemeer", 267000, 526700, 3040, "v", "emmen"),
    ("0114", "0114", "Schoonebeek", 256200, 520800, 4910, "v", ""),
    ("0114", "0114", "Nieuw-Schoonebeek", 263500, 518900, 1310, "v", ""),
    ("0114", "0114", "Weiteveen", 264000, 521700, 1660, "v", ""),
    # Midden-Groningen (Hoogezand-Sappemeer, Slochteren and Menterwolde before 2018)
    ("1952", "0018", "Hoogezand-Noord", 246300, 576200, 6950, "u", ""),
    ("1952", "0018", "Gorecht", 245800, 575100, 5700, "u", ""),
    ("1952", "0018", "Woldwijck", 245800, 574200, 5690, "u", ""),
    ("1952", "0018", "Kalkwijk", 247200, 574500, 3650, "u", ""),
    ("1952", "0018", "Sappemeer-West", 248200, 575800, 4000, "u", ""),
    ("1952", "0018", "Sappemeer-Oost", 249600, 576400, 4100, "u", ""),
    ("1952", "0018", "Kiel-Windeweer", 248200, 569600, 860, "v", ""),
    ("1952", "0018", "Kropswolde", 244200, 574200, 1640, "v", ""),
    ("1952", "0018", "Foxhol", 243800, 576500, 960, "v", ""),
    ("1952", "0018", "Westerbroek", 241300, 578200, 880, "v", ""),
    ("1952", "0040", "Harkstede", 242800, 581100, 3640, "v", ""),
    ("1952", "0040", "Kolham", 246300, 578700, 1370, "v", ""),
    ("1952", "0040", "Slochteren", 249100, 580900, 2970, "v", ""),
    ("1952", "0040", "Schildwolde", 250200, 583700, 2240, "v", ""),
    ("1952", "0040", "Siddeburen", 253600, 585700, 3640, "v", ""),
    ("1952", "1987", "Muntendam", 254400, 572600, 4780, "v", ""),
    ("1952", "1987", "Zuidbroek", 253900, 576400, 3590, "v", ""),
    ("1952", "1987", "Noordbroek", 254200, 580500, 1870, "v", ""),
    ("1952", "1987", "Meeden", 257700, 573100, 1710, "v", "noordoost"),
    # Oldambt
    ("1895", "1895", "Winschoten-Centrum", 265200, 574300, 3500, "u", "noordoost"),
    ("1895", "1895", "Winschoten-Noord", 265000, 575900, 4000, "u", "noordoost"),
    ("1895", "1895", "Winschoten-Zuid", 265100, 573300, 4000, "u", "noordoost"),
    ("1895", "1895", "Winschoten-West", 264200, 574400, 3400, "u", "noordoost"),
    ("1895", "1895", "Winschoten-Oost", 266500, 574700, 3400, "u", "noordoost"),
    ("1895", "1895", "Heiligerlee", 263300, 575900, 900, "v", "noordoost"),
    ("1895", "1895", "Scheemda", 261000, 577800, 3300, "v", "noordoost"),
    ("1895", "1895", "Westerlee", 261900, 574200, 1500, "v", "noordoost"),
    ("1895", "1895", "Midwolda", 263900, 580100, 2500, "v", ""),
    ("1895", "1895", "Oostwold", 265700, 580700, 1500, "v", ""),
    ("1895", "1895", "Nieuwolda", 260300, 584500, 1880, "v", ""),
    ("1895", "1895", "Finsterwolde", 268300, 579700, 2350, "v", ""),
    ("1895", "1895", "Beerta", 269300, 578000, 2330, "v", ""),
    ("1895", "1895", "Nieuweschans", 276600, 578700, 1750, "v", ""),
    # Pekela
    ("0765", "0765", "Oude Pekela-Centrum", 262800, 568500, 3000, "u", "noordoost"),
    ("0765", "0765", "Oude Pekela-Noord", 263400, 569500, 2300, "u", "noordoost"),
    ("0765", "0765", "Oude Pekela-Zuid", 262200, 567500, 2300, "u", "noordoost"),
    ("0765", "0765", "Nieuwe Pekela", 260900, 565900, 3800, "v", "noordoost"),
    ("0765", "0765", "Boven-Pekela", 258900, 562000, 800, "v", "noordoost"),
    # Stadskanaal
    ("0037", "0037", "Stadskanaal-Centrum", 260300, 556900, 4000, "u", ""),
    ("0037", "0037", "Stadskanaal-Noord", 260200, 558700, 4500, "u", ""),
    ("0037", "0037", "Maarswold", 260900, 557600, 4000, "u", ""),
    ("0037", "0037", "Vogelwijk", 261900, 557100, 2500, "u", ""),
    ("0037", "0037", "De Hagen", 261000, 555600, 3800, "u", ""),
    ("0037", "0037", "Noord Landskant", 256300, 561100, 900, "v", ""),
    ("0037", "0037", "Musselkanaal", 264300, 550800, 5300, "v", ""),
    ("0037", "0037", "Ceresdorp", 262700, 554300, 2000, "v", ""),
    ("0037", "0037", "Onstwedde", 266000, 562300, 2980, "v", ""),
    ("0037", "0037", "Mussel", 266000, 555100, 1540, "v", ""),
    ("0037", "0037", "Alteveer", 263700, 563500, 1170, "v", ""),
    # Veendam
    ("0047", "0047", "Veendam-Centrum", 254100, 570200, 3700, "u", "noordoost"),
    ("0047", "0047", "Oude Ae", 255000, 570900, 3500, "u", "noordoost"),
    ("0047", "0047", "Middenweg", 254900, 571800, 3500, "u", "noordoost"),
    ("0047", "0047", "Veendam-Zuid", 254600, 569000, 3500, "u", "noordoost"),
    ("0047", "0047", "Sorghvliet", 253700, 569200, 3000, "u", "noordoost"),
    ("0047", "0047", "Buitenwoel", 253300, 570900, 2900, "u", ""),
    ("0047", "0047", "Ommelanderwijk", 257500, 567700, 1700, "v", "noordoost"),
    ("0047", "0047", "Borgercompagnie", 250800, 570300, 400, "v", ""),
    ("0047", "0047", "Wildervank", 254400, 567200, 3600, "v", "noordoost"),
    ("0047", "0047", "Boven-Wildervank", 253500, 564900, 1900, "v", ""),
    # Westerwolde (Bellingwedde and Vlagtwedde before 2018)
    ("1950", "0007", "Bellingwolde", 273600, 570900, 2700, "v", ""),
    ("1950", "0007", "Vriescheloo", 271900, 567700, 1100, "v", ""),
    ("1950", "0007", "Blijham", 268300, 570600, 2800, "v", ""),
    ("1950", "0007", "Wedde", 268200, 565700, 1100, "v", ""),
    ("1950", "0007", "Veelerveen", 271700, 564200, 600, "v", ""),
    ("1950", "0048", "Ter Apel", 267500, 544800, 6200, "v", ""),
    ("1950", "0048", "Ter Apel-West", 265600, 544200, 1500, "u", ""),
    ("1950", "0048", "Barnflair", 269300, 542300, 1700, "u", ""),
    ("1950", "0048", "Ter Apelkanaal", 266700, 547100, 1300, "v", ""),
    ("1950", "0048", "Vlagtwedde", 270500, 561600, 2600, "v", ""),
    ("1950", "0048", "Bourtange", 275700, 559800, 1200, "v", ""),
    ("1950", "0048", "Sellingen", 273700, 552900, 1900, "v", ""),
    ("1950", "0048", "Sellingerbeetse", 269300, 551400, 1000, "v", ""),
    # Neighbours outside the region, so that people outside the region exist
    ("0014", "0014", "Centrum", 233800, 582000, 8000, "u", ""),
    ("0014", "0014", "Oosterparkwijk", 235000, 582700, 6000, "u", ""),
    ("0014", "0014", "Helpman", 234800, 579400, 6000, "u", ""),
    ("0014", "0014", "Oud-Zuid", 233100, 580600, 6000, "u", ""),
    ("0014", "0014", "Zuidwest", 232700, 578800, 5000, "u", ""),
    ("0014", "0014", "Noorddijk", 236800, 584100, 6000, "u", ""),
    ("0014", "0014", "Meerstad", 240600, 583400, 3000, "u", ""),
    ("0014", "0014", "Haren", 235500, 576300, 5000, "v", ""),
    ("0106", "0106", "Assen-Centrum", 233600, 556300, 5000, "u", ""),
    ("0106", "0106", "Assen-Oost", 235100, 556600, 5000, "u", ""),
    ("0106", "0106", "Marsdijk", 235400, 559200, 5000, "u", ""),
    ("0106", "0106", "Kloosterveen", 230500, 557900, 5000, "u", ""),
    ("0106", "0106", "Assen-West", 232200, 556000, 4000, "u", ""),
    ("0109", "0109", "Coevorden", 246700, 519200, 8000, "v", ""),
    ("0109", "0109", "Dalen", 247000, 524800, 4000, "v", ""),
    ("0109", "0109", "Sleen", 250400, 534200, 4000, "v", ""),
    ("0109", "0109", "Zweeloo", 245200, 536000, 2500, "v", ""),
)

COMPASS = ("Oost", "Noordoost", "Noord", "Noordwest", "West", "Zuidwest", "Zuid", "Zuidoost")
GEO_SOURCE = "synthetisch, CBS-indeling nagebootst"

# ----------------------------------------------------------------------------------------------
# Constants: codes and labels (cbs-microdata.md)
# ----------------------------------------------------------------------------------------------

RINPERSOONS_LABELS = {
    "R": "RINPERSOON WEL IN GBA/BRP",
    "N": "Persoon aanwezig in de BRP, A-nummer niet bekend",
    "S": "RINPERSOON NIET IN GBA/BRP, versleuteld BSN",
}
PARENT_S_LABELS = {**RINPERSOONS_LABELS, "-": "Ouder onbekend"}
SEX_LABELS = {"1": "Mannen", "2": "Vrouwen", "-": "Onbekend"}
GENERATION_LABELS = {"0": "autochtoon", "1": "eerste generatie allochtoon",
                     "2": "tweede generatie allochtoon", "-": "onbekend"}
COUNTRY_LABELS = {"6030": "Nederland", "6043": "Turkije", "5022": "Marokko", "5007": "Suriname",
                  "7009": "Syrië", "----": "Onbekend", "0000": "Onbekend"}
PARENTS_ABROAD_LABELS = {"0": "Geen ouder in het buitenland geboren", "1": "Eén ouder in het buitenland geboren",
                         "2": "Beide ouders in het buitenland geboren"}
SOORT_LABELS = {"B": "BAG-verblijfsobject", "L": "BAG-ligplaats", "S": "BAG-standplaats",
                "N": "Niet-BAG-adres"}
POPIIV_LABELS = {1: "Particulier huishouden met inkomen", 2: "Studentenhuishouden",
                 3: "Institutioneel huishouden met inkomen", 7: "Particulier huishouden zonder inkomen",
                 8: "Institutioneel huishouden zonder inkomen", 9: "Niet in de huishoudensbevolking"}
P100_LABELS = {-1: "Particulier huishouden, inkomen onbekend", -2: "Institutioneel huishouden"}
ARM_LABELS = {-1: "Inkomen onbekend", -2: "Institutioneel huishouden"}
ARML_LABELS = {**ARM_LABELS, -4: "Niet in doelpopulatie in twee of meer van de drie voorgaande jaren"}
BBIHJ_LABELS = {11: "Loon", 12: "Winst directeur-grootaandeelhouder", 13: "Winst zelfstandig ondernemer",
                14: "Overig inkomen zelfstandige", 21: "Werkloosheidsuitkering", 22: "Bijstandsuitkering",
                23: "Overige sociale-voorzieningsuitkering", 24: "Ziekte-/arbeidsongeschiktheidsuitkering",
                25: "Pensioenuitkering", 26: "Studiefinanciering", 30: "Vermogensinkomen", 99: "Onbekend"}
SAMHH_LABELS = {11: "Eenpersoonshuishouden", 21: "Paar zonder kinderen",
                31: "Paar met uitsluitend minderjarige kinderen", 32: "Paar met minder- en meerderjarige kinderen",
                33: "Paar met uitsluitend meerderjarige kinderen",
                41: "Eenouderhuishouden met uitsluitend minderjarige kinderen",
                42: "Eenouderhuishouden met minder- en meerderjarige kinderen",
                43: "Eenouderhuishouden met uitsluitend meerderjarige kinderen",
                51: "Overig meerpersoonshuishouden", 71: "Institutioneel huishouden", 88: "Onbekend"}
EHALGR_LABELS = {1: "Eigen woning", 2: "Huurwoning zonder huurtoeslag", 3: "Huurwoning met huurtoeslag",
                 8: "Institutioneel huishouden", 9: "Onbekend"}
UAF_LABELS = {-1: "Onbekend", -2: "Institutioneel huishouden", -4: "Niet in doelpopulatie"}
AMOUNT_UNKNOWN = 9999999999.0

OPEN_END_FORMS = ("20500101", "FILE_END", "99991231", "", "--------")
OPEN_END_P = (0.45, 0.40, 0.10, 0.03, 0.02)
XKOPPEL_CODES = np.array(["C1", "C2", "C6", "A1"], dtype=object)

# National distribution of standardised disposable income (lognormal) and the lage-inkomensgrens
# for a single person (euro per year; cbs-microdata.md §7, other years interpolated).
INCOME_SIGMA = 0.5
LOW_INCOME_LINE = {2008: 11100, 2009: 11250, 2010: 11400, 2011: 11650, 2012: 11880, 2013: 12120,
                   2014: 12250, 2015: 12360, 2016: 12360, 2017: 12480, 2018: 12750, 2019: 12950,
                   2020: 13200, 2021: 13500, 2022: 14400, 2023: 15000}

# Truth tables weight wijk means by the children of the default cohort (methodology.md §2).
TRUTH_COHORT = (1995, 1998)

GBA_START = int(np.datetime64("1994-10-01", "D").astype(np.int64))
NEVER = np.int64(10**9)          # a day far beyond every date used ("never happens")
YEAR_DAYS = 365.25


class SynthesizeError(ValueError):
    """Invalid arguments for the synthetic-data generator."""


# ----------------------------------------------------------------------------------------------
# Small vectorised helpers
# ----------------------------------------------------------------------------------------------

def _day(y: int, m: int = 1, d: int = 1) -> int:
    return int(np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D").astype(np.int64))


def _month_index(y, m):
    return (np.asarray(y, dtype=np.int64) - 1970) * 12 + (np.asarray(m, dtype=np.int64) - 1)


def _month_to_day(mi: np.ndarray) -> np.ndarray:
    return np.asarray(mi, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _year_of_day(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _ymd_strings(days: np.ndarray) -> np.ndarray:
    """YYYYMMDD strings (object array) for day numbers; equal days share one string object."""
    u, inv = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    return _ymd_strings_distinct(u)[inv]


def _ymd_strings_distinct(days: np.ndarray) -> np.ndarray:
    dt = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    y = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = dt.astype("datetime64[M]")
    m = mo.astype(np.int64) % 12 + 1
    d = (dt - mo.astype("datetime64[D]")).astype(np.int64) + 1
    return (y * 10000 + m * 100 + d).astype("U8").astype(object)


def _zero_pad(values: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(np.asarray(values, dtype=np.int64).astype(f"U{width}"), width).astype(object)


def _n_dirt(n: int, rate: float, minimum: int = 2) -> int:
    """How many rows get a kind of dirt: a rate, but at least `minimum` so small runs have it too."""
    return int(min(n, max(minimum, round(rate * n))))


def _choose(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    pool = np.asarray(pool)
    if len(pool) == 0 or k <= 0:
        return pool[:0]
    return np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False))


def _obj(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _frame(columns: dict) -> pd.DataFrame:
    """A DataFrame whose string columns are plain object columns (pyreadstat is fastest with these,
    and pandas 2.2 and 3 give the same frame)."""
    out = {}
    for name, values in columns.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "OUS":
            out[name] = _obj(arr)
        else:
            out[name] = pd.Series(arr.astype(np.float64), dtype=np.float64)
    return pd.DataFrame(out)


def _release_memory(setup: bool = False) -> None:
    """Keep the heap from holding freed memory (glibc only; a no-op elsewhere).

    glibc raises its mmap threshold after each freed large block, so arrays of a few MB end up on
    the heap, where the freed space between live blocks is never returned: resident memory then
    grows phase after phase far beyond what is in use. A fixed threshold (``setup``) keeps large
    arrays in their own mappings, and ``malloc_trim`` hands back the free heap pages."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        if setup:
            libc.mallopt(-3, 256 * 1024)   # M_MMAP_THRESHOLD (fixed: no dynamic raising)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _GroupPicker:
    """Weighted choice of an item within a group, vectorised: pick(group, u) for u in [0, 1)."""

    def __init__(self, group: np.ndarray, weight: np.ndarray):
        group = np.asarray(group, dtype=np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        order = np.lexsort((np.arange(len(group)), group))
        g, w = group[order], weight[order]
        n_groups = int(g.max()) + 1
        total = np.bincount(g, weights=w, minlength=n_groups)
        before = np.concatenate([[0.0], np.cumsum(total)])[:-1]
        within = (np.cumsum(w) - before[g]) / np.where(total[g] > 0, total[g], 1.0)
        last = np.r_[g[1:] != g[:-1], True]
        within[last] = 1.0
        self.key = g + np.minimum(within, 1.0)
        self.order = order
        self.has = total > 0

    def pick(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0 - 1e-9)
        pos = np.searchsorted(self.key, np.asarray(group, dtype=np.float64) + u, side="right")
        return self.order[np.minimum(pos, len(self.order) - 1)]


# ----------------------------------------------------------------------------------------------
# Geography
# ----------------------------------------------------------------------------------------------

@dataclass
class Geography:
    wijken: pd.DataFrame     # one row per wijk (index = wijk number in PLACES order)
    buurten: pd.DataFrame    # one row per buurt
    wijk_geoms: np.ndarray   # shapely polygons, aligned with wijken
    buurt_geoms: np.ndarray  # shapely polygons, aligned with buurten


def without_clusters(geo: Geography) -> Geography:
    """The same geography with no buurt or wijk in a cluster (the truth then plants none)."""
    return Geography(wijken=geo.wijken.assign(cluster=""), buurten=geo.buurten.assign(cluster=""),
                     wijk_geoms=geo.wijk_geoms, buurt_geoms=geo.buurt_geoms)


def _buurt_count(pop: int, kind: str) -> int:
    if kind == "u":
        bounds = (2000, 3500, 5000, 7000)
        return 2 + int(np.searchsorted(bounds, pop, side="right"))
    bounds = (1000, 2500, 4000, 5500)
    return 2 + int(np.searchsorted(bounds, pop, side="right"))


def build_geography(*, seed: int) -> Geography:
    """Wijken as Voronoi cells around the real places, buurten as Voronoi cells inside each wijk."""
    import shapely

    rng = np.random.default_rng([seed, 11])
    wk = pd.DataFrame(PLACES, columns=["gm", "old_gm", "wijknaam", "x", "y", "pop", "kind", "cluster"])
    wk["wijk_no"] = wk.groupby("gm", sort=False).cumcount().astype(np.int64)
    wk["old_wijk_no"] = wk.groupby("old_gm", sort=False).cumcount().astype(np.int64)
    wk["in_region"] = wk["gm"].isin(CORE_GEMEENTEN)
    pts = shapely.points(wk["x"].to_numpy(np.float64), wk["y"].to_numpy(np.float64))
    outline = shapely.buffer(shapely.convex_hull(shapely.multipoints(pts)), 3500.0, quad_segs=8)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=outline))
    tree = shapely.STRtree(cells)
    pairs = tree.query(pts, predicate="within")
    cell_of = np.full(len(pts), -1, dtype=np.int64)
    cell_of[pairs[0]] = pairs[1]
    if (cell_of < 0).any():
        raise RuntimeError("a wijk seed fell outside every Voronoi cell")
    wijk_geoms = shapely.intersection(cells[cell_of], outline)

    rows = []
    geoms = []
    for w in wk.itertuples():
        poly = wijk_geoms[w.Index]
        n = _buurt_count(w.pop, w.kind)
        seeds = [(float(w.x), float(w.y))]
        names = [w.wijknaam]
        kinds = ["kern"]
        n_dir = n - 1 - (1 if w.kind == "v" else 0)
        r_town = float(np.clip(np.sqrt(w.pop) * 9.0, 300.0, 1100.0))
        start = rng.uniform(0, 2 * np.pi)
        for k in range(n_dir):
            ang = start + k * 2 * np.pi / max(n_dir, 1) + rng.uniform(-0.08, 0.08)
            r = r_town * rng.uniform(0.75, 1.1)
            for _ in range(6):
                p = (w.x + r * np.cos(ang), w.y + r * np.sin(ang))
                if poly.contains(shapely.Point(p)) and min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in seeds) > 150:
                    seeds.append(p)
                    sector = int(np.round((ang % (2 * np.pi)) / (np.pi / 4))) % 8
                    names.append(f"{w.wijknaam}-{COMPASS[sector]}")
                    kinds.append("wijkdeel")
                    break
                r *= 0.6
        if w.kind == "v":
            scale = np.sqrt(poly.area)
            ang = rng.uniform(0, 2 * np.pi)
            r = max(0.42 * scale, 1.6 * r_town)
            for _ in range(8):
                p = (w.x + r * np.cos(ang), w.y + r * np.sin(ang))
                if poly.contains(shapely.Point(p)) and min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in seeds) > 250:
                    seeds.append(p)
                    names.append(f"Verspreide huizen {w.wijknaam}")
                    kinds.append("buitengebied")
                    break
                ang += 0.9
                r *= 0.8
        if len(seeds) == 1:
            parts = np.array([poly], dtype=object)
        else:
            sp = shapely.points(np.array(seeds))
            vor = shapely.get_parts(
                shapely.voronoi_polygons(shapely.multipoints(sp), extend_to=poly.buffer(poly.length)))
            t = shapely.STRtree(vor)
            pr = t.query(sp, predicate="within")
            idx = np.full(len(sp), -1, dtype=np.int64)
            idx[pr[0]] = pr[1]
            if (idx < 0).any():
                raise RuntimeError(f"a buurt seed of {w.wijknaam} fell outside every Voronoi cell")
            parts = shapely.intersection(vor[idx], poly)
        weights = np.array([1.4 if k == "kern" else (0.2 if k == "buitengebied" else 1.0) for k in kinds])
        pops = w.pop * weights / weights.sum()
        for b, (geom, name, kind, (bx, by), bp) in enumerate(zip(parts, names, kinds, seeds, pops)):
            geom = shapely.make_valid(geom) if not shapely.is_valid(geom) else geom
            polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]
            geoms.append(shapely.MultiPolygon(polys))
            rows.append((w.Index, b, name, kind, bx, by, float(bp)))
    bu = pd.DataFrame(rows, columns=["wijk", "buurt_no", "buurtnaam", "bkind", "x", "y", "pop"])
    bu["wijk"] = bu["wijk"].astype(np.int64)
    for col in ("gm", "old_gm", "wijknaam", "wijk_no", "old_wijk_no", "cluster", "in_region"):
        bu[col] = wk[col].to_numpy()[bu["wijk"].to_numpy()]
    wk_geoms = np.array([shapely.MultiPolygon([g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"])
                         for geom in wijk_geoms], dtype=object)
    return Geography(wijken=wk, buurten=bu, wijk_geoms=wk_geoms, buurt_geoms=np.array(geoms, dtype=object))


def area_codes(geo: Geography, year: int, target_year: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unprefixed (gem, wc, bc) codes of every buurt in `year`, as VSLGWBTAB writes them."""
    bu = geo.buurten
    old = year < MERGER_YEAR
    gm = np.where(old, bu["old_gm"].to_numpy(dtype=object), bu["gm"].to_numpy(dtype=object)).astype(str)
    wno = np.where(old, bu["old_wijk_no"].to_numpy(), bu["wijk_no"].to_numpy()).astype(np.int64)
    bno = bu["buurt_no"].to_numpy().astype(np.int64)
    if year > target_year:
        bno = np.where(bu["gm"].to_numpy(dtype=object) == RENUMBERED_GEMEENTE, bno + RENUMBER_OFFSET, bno)
    wc = np.char.add(gm, np.char.zfill(wno.astype("U2"), 2))
    bc = np.char.add(wc, np.char.zfill(bno.astype("U2"), 2))
    return gm.astype(object), wc.astype(object), bc.astype(object)


def geography_layers(geo: Geography, target_year: int):
    """The three GeoDataFrames of the synthetic Wijk- en buurtkaart of `target_year`."""
    import geopandas as gpd
    import shapely

    gm, wc, bc = area_codes(geo, target_year, target_year)
    bu = geo.buurten
    names = {c: GEMEENTE_NAMES[c] for c in np.unique(gm)}
    gm_name = np.array([names[c] for c in gm], dtype=object)
    wk_first = pd.DataFrame({"wc": wc, "wijk": bu["wijk"].to_numpy()}).drop_duplicates("wijk")
    wk_codes = wk_first.set_index("wijk")["wc"]
    wk = geo.wijken
    wk_gm = np.array([c[:4] for c in wk_codes.reindex(wk.index).to_numpy()], dtype=object)

    buurten = gpd.GeoDataFrame({
        "buurtcode": _obj(np.char.add("BU", bc.astype(str))),
        "buurtnaam": _obj(bu["buurtnaam"].to_numpy(dtype=object)),
        "wijkcode": _obj(np.char.add("WK", wc.astype(str))),
        "wijknaam": _obj(bu["wijknaam"].to_numpy(dtype=object)),
        "gemeentecode": _obj(np.char.add("GM", gm.astype(str))),
        "gemeentenaam": _obj(gm_name),
        "synthetisch": pd.Series(np.ones(len(bu), dtype=bool)),
        "bron": _obj(np.full(len(bu), GEO_SOURCE, dtype=object)),
    }, geometry=list(geo.buurt_geoms), crs="EPSG:28992")
    wijken = gpd.GeoDataFrame({
        "wijkcode": _obj(np.array(["WK" + wk_codes[i] for i in wk.index], dtype=object)),
        "wijknaam": _obj(wk["wijknaam"].to_numpy(dtype=object)),
        "gemeentecode": _obj(np.array(["GM" + c for c in wk_gm], dtype=object)),
        "gemeentenaam": _obj(np.array([GEMEENTE_NAMES[c] for c in wk_gm], dtype=object)),
        "synthetisch": pd.Series(np.ones(len(wk), dtype=bool)),
        "bron": _obj(np.full(len(wk), GEO_SOURCE, dtype=object)),
    }, geometry=list(geo.wijk_geoms), crs="EPSG:28992")
    gms = []
    for code in sorted(set(wk_gm)):
        union = shapely.union_all(geo.wijk_geoms[wk_gm == code])
        polys = [g for g in shapely.get_parts(union) if g.geom_type == "Polygon"]
        gms.append(("GM" + code, GEMEENTE_NAMES[code], shapely.MultiPolygon(polys)))
    gemeenten = gpd.GeoDataFrame({
        "gemeentecode": _obj(np.array([g[0] for g in gms], dtype=object)),
        "gemeentenaam": _obj(np.array([g[1] for g in gms], dtype=object)),
        "synthetisch": pd.Series(np.ones(len(gms), dtype=bool)),
        "bron": _obj(np.full(len(gms), GEO_SOURCE, dtype=object)),
    }, geometry=[g[2] for g in gms], crs="EPSG:28992")
    return gemeenten, wijken, buurten


# ----------------------------------------------------------------------------------------------
# Planted truth per buurt
# ----------------------------------------------------------------------------------------------

def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _smooth_field(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, *, n: int = 30,
                  bandwidth: float = 7000.0) -> np.ndarray:
    cx = rng.uniform(x.min() - 5000, x.max() + 5000, n)
    cy = rng.uniform(y.min() - 5000, y.max() + 5000, n)
    a = rng.normal(0, 1, n)
    d2 = (x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2
    s = (np.exp(-d2 / (2 * bandwidth**2)) * a).sum(axis=1)
    return (s - s.mean()) / (s.std() + 1e-12)


def plant_buurt_truth(geo: Geography, *, seed: int) -> pd.DataFrame:
    """Per buurt: the planted probabilities and the latent-income shifts of the population model."""
    rng = np.random.default_rng([seed, 12])
    bu = geo.buurten
    x, y = bu["x"].to_numpy(np.float64), bu["y"].to_numpy(np.float64)
    c = (bu["cluster"].to_numpy(dtype=object) != "").astype(np.float64)
    inside = c > 0

    def smooth_within_class() -> np.ndarray:
        # smooth in space, standardised inside and outside the clusters apart, so that the
        # seed moves buurten around their class level but never the level itself
        s = _smooth_field(rng, x, y)
        for m in (inside, ~inside):
            if m.sum() > 1:
                s[m] = (s[m] - s[m].mean()) / (s[m].std() + 1e-12)
        return s

    s1, s2, s3 = (smooth_within_class() for _ in range(3))
    e1, e2, e3 = (rng.normal(0, 1, len(bu)) for _ in range(3))
    outflow = _expit(np.where(inside, _logit(0.53), _logit(0.15)) + 0.17 * s1 + 0.06 * e1)
    p_pp = _expit(np.where(inside, _logit(0.30), _logit(0.17)) + 0.25 * s2 + 0.10 * e2)
    p_np = _expit(np.where(inside, _logit(0.068), _logit(0.055)) + 0.12 * s3 + 0.06 * e3)
    return pd.DataFrame({
        "p_parents_poor": np.clip(p_pp, 0.06, 0.45),
        "outflow_propensity": np.where(inside, np.clip(outflow, 0.45, 0.62), np.clip(outflow, 0.09, 0.21)),
        "p_child_poor_parents_not_poor": np.clip(p_np, 0.04, 0.08),
        # mean latent income score of non-poor families, and the shift of their children's scores
        "mu_family": -0.1 - 1.6 * (p_pp - 0.17),
        "a_child": -0.05 - 0.35 * c - 0.05 * s1,
    })


# ----------------------------------------------------------------------------------------------
# Address objects and VSLGWBTAB
# ----------------------------------------------------------------------------------------------

OBJ_OK, OBJ_MISSING, OBJ_DASHED, OBJ_BC_DASHED, OBJ_EMPTY, OBJ_NONBAG = 0, 1, 2, 3, 4, 5


@dataclass
class Objects:
    buurt: np.ndarray        # buurt of every object
    soort: np.ndarray        # "B", "L", "S" or "N"
    rin: np.ndarray          # int RINOBJECTNUMMER
    status: np.ndarray       # OBJ_* code
    start: np.ndarray        # first regular (B/L/S) object of each buurt
    count: np.ndarray        # regular objects per buurt
    nonbag_start: np.ndarray
    nonbag_count: np.ndarray
    shared_rin: int = 0
    rin_str: np.ndarray | None = None


def build_objects(geo: Geography, *, persons: int, seed: int) -> Objects:
    rng = np.random.default_rng([seed, 13])
    pop = geo.buurten["pop"].to_numpy(np.float64)
    share = pop / pop.sum()
    count = np.maximum(3, np.round(share * persons * 0.62)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(count)])[:-1]
    n_reg = int(count.sum())
    buurt = np.repeat(np.arange(len(pop)), count)
    soort = rng.choice(np.array(["B", "L", "S"], dtype=object), size=n_reg, p=[0.985, 0.005, 0.01])
    n_nb = max(4, int(round(0.004 * n_reg)))
    nb_buurt = np.sort(rng.choice(len(pop), size=n_nb, p=share))
    nb_count = np.bincount(nb_buurt, minlength=len(pop)).astype(np.int64)
    nb_start = n_reg + np.concatenate([[0], np.cumsum(nb_count)])[:-1]
    n_all = n_reg + n_nb
    rins = np.unique(rng.integers(10**11, 10**15, size=int(n_all * 1.02) + 10))
    rins = rng.permutation(rins)[:n_all]
    status = np.full(n_all, OBJ_OK, dtype=np.int64)
    status[n_reg:] = OBJ_NONBAG
    b_idx = np.flatnonzero(soort == "B")
    picked = rng.permutation(b_idx)
    k_miss, k_dash, k_bc, k_empty = (_n_dirt(n_reg, r) for r in (0.003, 0.003, 0.0015, 0.001))
    status[picked[:k_miss]] = OBJ_MISSING
    status[picked[k_miss:k_miss + k_dash]] = OBJ_DASHED
    status[picked[k_miss + k_dash:k_miss + k_dash + k_bc]] = OBJ_BC_DASHED
    status[picked[k_miss + k_dash + k_bc:k_miss + k_dash + k_bc + k_empty]] = OBJ_EMPTY
    # A third of the non-BAG addresses carry the RINOBJECTNUMMER of a BAG object elsewhere: only
    # the pair (SOORTOBJECTNUMMER, RINOBJECTNUMMER) identifies an object.
    n_shared = max(1, n_nb // 3)
    ok_b = b_idx[status[b_idx] == OBJ_OK]
    rins[n_reg:n_reg + n_shared] = rins[rng.choice(ok_b, size=n_shared, replace=False)]
    soort_all = np.concatenate([soort, np.full(n_nb, "N", dtype=object)])
    buurt_all = np.concatenate([buurt, nb_buurt])
    return Objects(buurt=buurt_all, soort=soort_all, rin=rins, status=status, start=start, count=count,
                   nonbag_start=nb_start, nonbag_count=nb_count, shared_rin=n_shared, rin_str=_zero_pad(rins, 16))


def pick_objects(objs: Objects, buurt: np.ndarray, rng: np.random.Generator, *, p_nonbag: float = 0.004) -> np.ndarray:
    """A random address object in each given buurt (now and then a non-BAG one)."""
    buurt = np.asarray(buurt, dtype=np.int64)
    u = rng.random(len(buurt))
    reg = objs.start[buurt] + np.minimum((u * objs.count[buurt]).astype(np.int64), objs.count[buurt] - 1)
    nb_ok = objs.nonbag_count[buurt] > 0
    use_nb = nb_ok & (rng.random(len(buurt)) < p_nonbag)
    nb = objs.nonbag_start[buurt] + np.minimum((u * objs.nonbag_count[buurt]).astype(np.int64),
                                               np.maximum(objs.nonbag_count[buurt] - 1, 0))
    return np.where(use_nb, nb, reg)


def vslgwb_table(geo: Geography, objs: Objects, *, edition: int, target_year: int) -> pd.DataFrame:
    """VSLGWBTAB of one edition: one row per BAG object (non-BAG objects and a few BAG objects are
    missing), gem/wc/bc for 2015..edition, with dashed and empty codes on a few objects."""
    keep = (objs.soort != "N") & (objs.status != OBJ_MISSING)
    idx = np.flatnonzero(keep)
    buurt = objs.buurt[idx]
    status = objs.status[idx]
    order = np.lexsort((objs.rin[idx], objs.soort[idx].astype("U1")))
    idx, buurt, status = idx[order], buurt[order], status[order]
    cols: dict[str, np.ndarray] = {
        "SOORTOBJECTNUMMER": objs.soort[idx],
        "RINOBJECTNUMMER": objs.rin_str[idx],
    }
    for year in range(VSLGWB_FIRST_YEAR, edition + 1):
        gm, wc, bc = area_codes(geo, year, target_year)
        g, w, b = gm[buurt].copy(), wc[buurt].copy(), bc[buurt].copy()
        g[status == OBJ_DASHED], w[status == OBJ_DASHED], b[status == OBJ_DASHED] = "----", "------", "--------"
        if year == target_year:
            b[status == OBJ_BC_DASHED] = "--------"
            w[status == OBJ_EMPTY], b[status == OBJ_EMPTY] = "", ""
        cols[f"gem{year}"], cols[f"wc{year}"], cols[f"bc{year}"] = g, w, b
    return _frame(cols)


def vslgwb_formats(df: pd.DataFrame) -> dict:
    fmt = {"SOORTOBJECTNUMMER": "A1", "RINOBJECTNUMMER": "A16"}
    for c in df.columns[2:]:
        fmt[c] = {"gem": "A4", "wc": "A6", "bc": "A8"}[c[:-4]]
    return fmt


# ----------------------------------------------------------------------------------------------
# Population
# ----------------------------------------------------------------------------------------------

ROLE_MOTHER, ROLE_FATHER, ROLE_CHILD, ROLE_PARTNER, ROLE_OTHER = 0, 1, 2, 3, 4
ORIGINS = np.array(["6030", "6043", "5022", "5007", "7009"], dtype=object)


@dataclass
class Population:
    # persons
    role: np.ndarray
    fam: np.ndarray          # family of a mother/father/child, -1 otherwise
    kid: np.ndarray          # child index of a child, -1 otherwise
    birth_month: np.ndarray  # months since 1970-01
    sex: np.ndarray          # "1"/"2"
    land: np.ndarray         # birth country code
    land_mother: np.ndarray
    land_father: np.ndarray
    herkomst: np.ndarray
    generation: np.ndarray
    parents_abroad: np.ndarray
    present_from: np.ndarray  # first day the person is in the household statistics
    rinps: np.ndarray         # "R", "N", "S"
    rin: np.ndarray           # int
    # families
    f_mother: np.ndarray
    f_father: np.ndarray
    f_first_birth: np.ndarray
    f_start: np.ndarray
    f_move: np.ndarray
    f_overlap: np.ndarray
    f_obj0: np.ndarray
    f_obj1: np.ndarray
    f_sep: np.ndarray
    f_father_obj: np.ndarray
    f_bw_father: np.ndarray
    f_poor: np.ndarray
    f_z: np.ndarray
    f_buurt_ref: np.ndarray
    # children
    c_person: np.ndarray
    c_fam: np.ndarray
    c_leave: np.ndarray
    c_own_obj0: np.ndarray
    c_own_move: np.ndarray
    c_own_overlap: np.ndarray
    c_own_obj1: np.ndarray
    c_student_from: np.ndarray
    c_student_to: np.ndarray
    c_partner: np.ndarray     # partner person, -1
    c_partner_from: np.ndarray
    c_partner_hkw: np.ndarray
    c_inst: np.ndarray
    c_poor: np.ndarray
    c_z: np.ndarray
    c_buurt15: np.ndarray     # internal buurt at 15 from the winning address file (-1 none)
    c_obj15: np.ndarray
    # partners
    p_person: np.ndarray
    p_kid: np.ndarray
    p_prior_obj: np.ndarray
    # other households
    o_person: np.ndarray
    o_hh: np.ndarray
    h_head: np.ndarray
    h_start: np.ndarray
    h_move: np.ndarray
    h_overlap: np.ndarray
    h_obj0: np.ndarray
    h_obj1: np.ndarray
    h_poor: np.ndarray
    h_z: np.ndarray
    h_inst_year: np.ndarray
    h_inst_type: np.ndarray
    # prior homes of parents and partners
    mp_obj: np.ndarray
    fp_obj: np.ndarray
    dirt: dict = field(default_factory=dict)
    aux: dict = field(default_factory=dict)
    # set by the dirt on GBAPERSOONTAB, used by the truth
    gba_year: np.ndarray | None = None
    gba_month: np.ndarray | None = None
    young_father: np.ndarray | None = None
    absent_parent_child: np.ndarray | None = None
    # identifiers as written, fixed once the identity dirt is planted
    rin_str: np.ndarray | None = None
    rinps_code: np.ndarray | None = None

    def fix_identifiers(self) -> None:
        """Zero-padded RINPERSOON strings and a sortable code of RINPERSOONS ("N" < "R" < "S")."""
        self.rin_str = _zero_pad(self.rin, 9)
        self.rinps_code = np.searchsorted(np.array(["N", "R", "S"]), self.rinps.astype("U1")).astype(np.int64)

    def key(self, persons: np.ndarray) -> np.ndarray:
        """One int64 per person that orders and identifies like (RINPERSOONS, RINPERSOON)."""
        return self.rinps_code[persons] * 10**9 + self.rin[persons]

    def sort_key(self, persons: np.ndarray) -> np.ndarray:
        """Order of `persons` by (RINPERSOONS, RINPERSOON), as CBS files are sorted."""
        return np.argsort(self.key(persons), kind="stable")


def _months(years) -> np.ndarray:
    return np.round(np.asarray(years, dtype=np.float64) * 12).astype(np.int64)


def generate_population(geo: Geography, truth: pd.DataFrame, objs: Objects, *, persons: int, seed: int,
                        last_year: int) -> Population:
    """Families, children, partners and other households with their dates and homes.

    The latent poverty status comes later (`assign_latent_status`), once the address spells exist:
    a child's propensities are those of the buurt the address file places it in at 15."""
    rng = np.random.default_rng([seed, 21])
    end = _day(last_year, 12, 31)
    bu = geo.buurten
    nb = len(bu)
    pop_w = bu["pop"].to_numpy(np.float64)
    gm_codes, gm_idx = np.unique(bu["gm"].to_numpy(dtype=object).astype(str), return_inverse=True)
    core = bu["in_region"].to_numpy(bool)
    in_gm = _GroupPicker(gm_idx, pop_w)
    anywhere = _GroupPicker(np.zeros(nb, dtype=np.int64), pop_w)
    core_pick = _GroupPicker(np.zeros(nb, dtype=np.int64), pop_w * core)
    city = gm_codes.tolist().index("0014")
    p_pp = truth["p_parents_poor"].to_numpy()
    outflow = truth["outflow_propensity"].to_numpy()
    p_np = truth["p_child_poor_parents_not_poor"].to_numpy()
    mu = truth["mu_family"].to_numpy()
    a_child = truth["a_child"].to_numpy()

    def pick_any(n):
        return anywhere.pick(np.zeros(n, dtype=np.int64), rng.random(n))

    def pick_same_gm(b):
        return in_gm.pick(gm_idx[b], rng.random(len(b)))

    # ---------------------------------------------------------------- families
    n_f = max(30, int(round(persons * 0.2)))
    f_b0 = pick_any(n_f)
    origin = rng.choice(len(ORIGINS), size=n_f, p=[0.94, 0.02, 0.015, 0.015, 0.01])
    n_kids = rng.choice([1, 2, 3, 4], size=n_f, p=[0.22, 0.44, 0.24, 0.10])
    first = rng.integers(_month_index(1978, 1), _month_index(2006, 7), size=n_f)
    # more families whose children fall in the 1984-2001 birth years the analysis looks at
    pull = rng.random(n_f) < 0.5
    first[pull] = rng.integers(_month_index(1984, 1), _month_index(1998, 7), size=int(pull.sum()))
    gaps = 12 + np.round(rng.gamma(2.0, 9.0, size=(n_f, 3))).astype(np.int64)
    kid_months = np.column_stack([first, first[:, None] + np.cumsum(gaps, axis=1)])
    kid_mask = (np.arange(4)[None, :] < n_kids[:, None]) & (kid_months <= _month_index(2008, 12))
    mother_age = np.clip(rng.normal(28.5, 4.5, n_f), 18, 42)
    m_birth = first - _months(mother_age)
    f_birth = m_birth - _months(rng.normal(2.5, 3.5, n_f))
    f_birth = np.minimum(f_birth, first - 12 * 18)
    ftype = rng.choice(3, size=n_f, p=[0.85, 0.12, 0.03])   # couple, mother only, father only
    has_m, has_f = ftype != 2, ftype != 1
    first_day = _month_to_day(first)
    f_start = first_day - rng.integers(0, 900, size=n_f)
    arrival = np.full(n_f, -NEVER, dtype=np.int64)
    syr = ORIGINS[origin] == "7009"
    arrival[syr] = _day(2014, 6, 1) + rng.integers(0, 900, size=int(syr.sum()))
    f_start = np.maximum(f_start, arrival)
    sep = (ftype == 0) & (rng.random(n_f) < 0.22)
    lo, hi = np.maximum(first_day + 365, f_start + 365), end - 180
    sep &= hi > lo
    f_sep = np.where(sep, lo + (rng.random(n_f) * np.maximum(hi - lo, 1)).astype(np.int64), NEVER)
    moved = rng.random(n_f) < 0.25
    lo, hi = f_start + 180, end
    moved &= hi > lo
    f_move = np.where(moved, lo + (rng.random(n_f) * np.maximum(hi - lo, 1)).astype(np.int64), NEVER)
    f_obj0 = pick_objects(objs, f_b0, rng)
    dest = rng.random(n_f)
    b1 = np.where(dest < 0.4, f_b0, np.where(dest < 0.8, pick_same_gm(f_b0), pick_any(n_f)))
    f_obj1 = np.where(moved, pick_objects(objs, b1, rng), -1)
    n_over = _n_dirt(int(moved.sum()), 0.02)
    f_overlap = np.zeros(n_f, dtype=np.int64)
    f_overlap[_choose(rng, np.flatnonzero(moved), n_over)] = rng.integers(1, 60, size=n_over)
    # the father moves out on separation, to a home in the gemeente where the family then lives
    b_at_sep = np.where(f_move <= f_sep, objs.buurt[np.maximum(f_obj1, 0)], objs.buurt[f_obj0])
    f_father_obj = np.where(sep, pick_objects(objs, pick_same_gm(b_at_sep), rng), -1)
    f_bw_father = (ftype == 0) & (rng.random(n_f) < 0.7)

    # ---------------------------------------------------------------- children
    cf, ck = np.nonzero(kid_mask)
    n_c = len(cf)
    c_bm = kid_months[cf, ck]
    c_birth = _month_to_day(c_bm)
    leave_age = 17.5 + rng.gamma(2.0, 1.6, n_c)
    c_leave = c_birth + np.round(leave_age * YEAR_DAYS).astype(np.int64)
    c_leave = np.where(c_leave > end, NEVER, c_leave)
    left = c_leave < NEVER
    student = left & (leave_age < 21.0) & (rng.random(n_c) < 0.5)
    stud_years = rng.integers(2, 6, size=n_c)
    leave_year = _year_of_day(np.minimum(c_leave, end))
    c_student_from = np.where(student, leave_year, 9999)
    c_student_to = np.where(student, np.minimum(leave_year + stud_years - 1, _year_of_day(c_birth) + 25), -1)
    fam_b_at_leave = np.where(f_move[cf] <= c_leave, objs.buurt[np.maximum(f_obj1[cf], 0)], objs.buurt[f_obj0[cf]])
    u = rng.random(n_c)
    own_b = np.where(u < 0.5, pick_same_gm(fam_b_at_leave),
                     np.where(u < 0.7, core_pick.pick(np.zeros(n_c, dtype=np.int64), rng.random(n_c)),
                              np.where(u < 0.85, in_gm.pick(np.full(n_c, city), rng.random(n_c)), pick_any(n_c))))
    own_b = np.where(student & (rng.random(n_c) < 0.8), in_gm.pick(np.full(n_c, city), rng.random(n_c)), own_b)
    c_own_obj0 = np.where(left, pick_objects(objs, own_b, rng), -1)
    moved2 = left & (rng.random(n_c) < 0.35)
    c_own_move = np.where(moved2, c_leave + 365 + rng.integers(0, 6 * 365, size=n_c), NEVER)
    moved2 &= c_own_move <= end
    c_own_move = np.where(moved2, c_own_move, NEVER)
    u = rng.random(n_c)
    b2 = np.where(u < 0.6, pick_same_gm(own_b), np.where(u < 0.85, pick_same_gm(fam_b_at_leave), pick_any(n_c)))
    c_own_obj1 = np.where(moved2, pick_objects(objs, b2, rng), -1)
    n_over2 = _n_dirt(int(moved2.sum()), 0.02)
    c_own_overlap = np.zeros(n_c, dtype=np.int64)
    c_own_overlap[_choose(rng, np.flatnonzero(moved2), n_over2)] = rng.integers(1, 60, size=n_over2)
    stud_end_day = np.where(student, _month_to_day(_month_index(c_student_to + 1, 1)), c_leave)
    partnered = left & (rng.random(n_c) < 0.35)
    c_partner_from = np.maximum(c_leave, stud_end_day) + rng.integers(180, 8 * 365, size=n_c)
    partnered &= c_partner_from <= end
    c_partner_from = np.where(partnered, c_partner_from, NEVER)
    c_partner_hkw = partnered & (rng.random(n_c) < 0.5)
    inst_pool = np.flatnonzero(left & ~student)
    c_inst = np.zeros(n_c, dtype=bool)
    c_inst[_choose(rng, inst_pool, _n_dirt(n_c, 0.003))] = True
    partnered &= ~c_inst
    c_partner_from = np.where(partnered, c_partner_from, NEVER)
    c_partner_hkw &= partnered

    # ---------------------------------------------------------------- partners
    p_kid = np.flatnonzero(partnered)
    n_p = len(p_kid)
    p_bm = c_bm[p_kid] + np.round(rng.normal(0.8, 2.5, n_p) * 12).astype(np.int64)
    p_bm = np.minimum(p_bm, _month_index(2004, 12))
    own_b_now = np.where(c_own_move[p_kid] <= c_partner_from[p_kid], objs.buurt[np.maximum(c_own_obj1[p_kid], 0)],
                         objs.buurt[np.maximum(c_own_obj0[p_kid], 0)])
    p_prior_obj = pick_objects(objs, pick_same_gm(own_b_now), rng)

    # ---------------------------------------------------------------- others
    n_mothers, n_fathers = int(has_m.sum()), int(has_f.sum())
    n_o = max(10, persons - (n_mothers + n_fathers + n_c + n_p))
    n_couples = int(0.35 * n_o / 2)
    n_h = n_o - n_couples
    h_size = np.ones(n_h, dtype=np.int64)
    h_size[:n_couples] = 2
    o_hh = np.repeat(np.arange(n_h), h_size)
    o_second = np.r_[False, o_hh[1:] == o_hh[:-1]]
    h_by = np.where(rng.random(n_h) < 0.3, rng.uniform(1925, 1950, n_h), rng.uniform(1950, 1993, n_h))
    h_bm = _month_index(np.floor(h_by).astype(np.int64), 1) + rng.integers(0, 12, size=n_h)
    o_bm = h_bm[o_hh] + np.where(o_second, np.round(rng.normal(-10, 30, n_o)).astype(np.int64), 0)
    o_bm = np.minimum(o_bm, _month_index(1993, 12))
    h_b0 = pick_any(n_h)
    adult = _month_to_day(h_bm + 12 * 18)
    h_start = np.maximum(GBA_START, adult + rng.integers(0, 8 * 365, size=n_h))
    h_start = np.minimum(h_start, end - 30)
    h_moved = rng.random(n_h) < 0.15
    h_move = np.where(h_moved, h_start + 365 + (rng.random(n_h) * np.maximum(end - h_start - 365, 1)).astype(np.int64),
                      NEVER)
    h_moved &= h_move <= end
    h_move = np.where(h_moved, h_move, NEVER)
    h_obj0 = pick_objects(objs, h_b0, rng)
    u = rng.random(n_h)
    h_obj1 = np.where(h_moved, pick_objects(objs, np.where(u < 0.6, pick_same_gm(h_b0), pick_any(n_h)), rng), -1)
    n_over3 = _n_dirt(int(h_moved.sum()), 0.02)
    h_overlap = np.zeros(n_h, dtype=np.int64)
    h_overlap[_choose(rng, np.flatnonzero(h_moved), n_over3)] = rng.integers(1, 60, size=n_over3)
    elderly = h_by < 1950
    h_poor = np.where(elderly, rng.random(n_h) < 0.04, rng.random(n_h) < 0.8 * p_pp[h_b0])
    h_z = np.where(h_poor, rng.normal(-1.6, 0.35, n_h), rng.normal(mu[h_b0], 0.9))
    single_old = (h_size == 1) & (h_by < 1945)
    h_inst = single_old & (rng.random(n_h) < 0.3)
    h_inst_year = np.where(h_inst, np.floor(h_by).astype(np.int64) + 80 + rng.integers(0, 12, size=n_h), 9999)
    h_inst_type = np.where(rng.random(n_h) < 0.75, 3, 8)

    # ---------------------------------------------------------------- person table
    m_fam, f_fam = np.flatnonzero(has_m), np.flatnonzero(has_f)
    role = np.concatenate([np.full(len(m_fam), ROLE_MOTHER), np.full(len(f_fam), ROLE_FATHER),
                           np.full(n_c, ROLE_CHILD), np.full(n_p, ROLE_PARTNER), np.full(n_o, ROLE_OTHER)])
    n_pers = len(role)
    fam = np.concatenate([m_fam, f_fam, cf, np.full(n_p + n_o, -1)]).astype(np.int64)
    kid = np.concatenate([np.full(len(m_fam) + len(f_fam), -1), np.arange(n_c), np.full(n_p + n_o, -1)])
    birth_month = np.concatenate([m_birth[m_fam], f_birth[f_fam], c_bm, p_bm, o_bm]).astype(np.int64)
    h_sex = rng.choice(np.array(["1", "2"], dtype=object), size=n_h)
    opposite = np.where(h_sex == "1", "2", "1").astype(object)
    o_sex = np.where(o_second & (rng.random(n_o) < 0.95), opposite[o_hh], h_sex[o_hh]).astype(object)
    c_sex = rng.choice(np.array(["1", "2"], dtype=object), size=n_c)
    p_sex = np.where(c_sex[p_kid] == "1", "2", "1")
    p_sex = np.where(rng.random(n_p) < 0.05, c_sex[p_kid], p_sex)
    sex = np.concatenate([np.full(len(m_fam), "2", dtype=object), np.full(len(f_fam), "1", dtype=object),
                          c_sex, p_sex, o_sex]).astype(object)
    off_m, off_f, off_c = 0, len(m_fam), len(m_fam) + len(f_fam)
    off_p, off_o = off_c + n_c, off_c + n_c + n_p
    f_mother = np.full(n_f, -1, dtype=np.int64)
    f_mother[m_fam] = off_m + np.arange(len(m_fam))
    f_father = np.full(n_f, -1, dtype=np.int64)
    f_father[f_fam] = off_f + np.arange(len(f_fam))
    c_person = off_c + np.arange(n_c)
    p_person = off_p + np.arange(n_p)
    o_person = off_o + np.arange(n_o)
    c_partner = np.full(n_c, -1, dtype=np.int64)
    c_partner[p_kid] = p_person
    h_head = o_person[np.r_[True, o_hh[1:] != o_hh[:-1]]]

    # origin: parents of migrant families born abroad, their children (Syria apart) born here
    o_fam = origin[np.maximum(fam, 0)]
    fam_origin = ORIGINS[o_fam]
    mig = (fam >= 0) & (fam_origin != "6030")
    parent = (role == ROLE_MOTHER) | (role == ROLE_FATHER)
    land = np.full(n_pers, "6030", dtype=object)
    land[mig & (parent | (fam_origin == "7009"))] = fam_origin[mig & (parent | (fam_origin == "7009"))]
    other_mig = (role >= ROLE_PARTNER) & (rng.random(n_pers) < 0.05)
    land[other_mig] = rng.choice(ORIGINS[1:], size=int(other_mig.sum()))
    herkomst = land.copy()
    herkomst[mig] = fam_origin[mig]
    generation = np.where(herkomst == "6030", "0", np.where(land != "6030", "1", "2")).astype(object)
    land_mother = np.where(role == ROLE_CHILD, np.where(mig, fam_origin, "6030"), herkomst).astype(object)
    land_father = land_mother.copy()
    parents_abroad = np.where(land_mother != "6030", "2", "0").astype(object)
    present_from = _month_to_day(birth_month)
    fam_arrival = np.where(fam >= 0, arrival[np.maximum(fam, 0)], -NEVER)
    present_from = np.maximum(present_from, fam_arrival)
    present_from[o_person] = np.maximum(present_from[o_person], h_start[o_hh])

    # ---------------------------------------------------------------- prior homes of parents
    mp_obj = pick_objects(objs, np.where(rng.random(n_f) < 0.8, pick_same_gm(f_b0), pick_any(n_f)), rng)
    fp_obj = pick_objects(objs, np.where(rng.random(n_f) < 0.8, pick_same_gm(f_b0), pick_any(n_f)), rng)

    # ---------------------------------------------------------------- identifiers
    rin = rng.choice(999_999_998, size=n_pers, replace=False).astype(np.int64) + 1
    rinps = np.full(n_pers, "R", dtype=object)

    popn = Population(
        role=role, fam=fam, kid=kid, birth_month=birth_month, sex=sex, land=land, land_mother=land_mother,
        land_father=land_father, herkomst=herkomst, generation=generation, parents_abroad=parents_abroad,
        present_from=present_from, rinps=rinps, rin=rin,
        f_mother=f_mother, f_father=f_father, f_first_birth=first_day, f_start=f_start, f_move=f_move,
        f_overlap=f_overlap, f_obj0=f_obj0, f_obj1=f_obj1, f_sep=f_sep, f_father_obj=f_father_obj,
        f_bw_father=f_bw_father, f_poor=np.zeros(n_f, dtype=bool), f_z=np.zeros(n_f), f_buurt_ref=f_b0.copy(),
        c_person=c_person, c_fam=cf, c_leave=c_leave, c_own_obj0=c_own_obj0, c_own_move=c_own_move,
        c_own_overlap=c_own_overlap, c_own_obj1=c_own_obj1, c_student_from=c_student_from,
        c_student_to=c_student_to, c_partner=c_partner, c_partner_from=c_partner_from,
        c_partner_hkw=c_partner_hkw, c_inst=c_inst, c_poor=np.zeros(n_c, dtype=bool), c_z=np.zeros(n_c),
        c_buurt15=np.full(n_c, -1), c_obj15=np.full(n_c, -1),
        p_person=p_person, p_kid=p_kid, p_prior_obj=p_prior_obj,
        o_person=o_person, o_hh=o_hh, h_head=h_head, h_start=h_start, h_move=h_move, h_overlap=h_overlap,
        h_obj0=h_obj0, h_obj1=h_obj1, h_poor=h_poor, h_z=h_z, h_inst_year=h_inst_year, h_inst_type=h_inst_type,
        mp_obj=mp_obj, fp_obj=fp_obj,
    )
    popn.dirt.update({
        "family_moves": int(moved.sum()),
        "family_moves_between_buurten": int((moved & (objs.buurt[np.maximum(f_obj1, 0)] != f_b0)).sum()),
        "separations": int(sep.sum()),
        "single_mother_families_father_unknown": int((ftype == 1).sum()),
        "single_father_families_mother_unknown": int((ftype == 2).sum()),
        "overlapping_address_spells": int(n_over + n_over2 + n_over3),
        "students_young_adults": int(student.sum()),
        "institutional_young_adults": int(c_inst.sum()),
        "institutional_elderly": int(h_inst.sum()),
        "syrian_families_arrived_2014_2016": int(syr.sum()),
    })
    # plant a few homes at addresses the analysis cannot place
    for status, name in ((OBJ_MISSING, "families_at_address_missing_from_vslgwb"),
                         (OBJ_DASHED, "families_at_address_with_dashed_codes"),
                         (OBJ_BC_DASHED, "families_at_address_with_dashed_bc"),
                         (OBJ_EMPTY, "families_at_address_with_empty_codes"),
                         (OBJ_NONBAG, "families_at_nonbag_address")):
        pool = np.flatnonzero(objs.status == status)
        k = _n_dirt(n_f, 0.002)
        fams = _choose(rng, np.flatnonzero(objs.status[f_obj0] == OBJ_OK), k)
        popn.f_obj0[fams] = rng.choice(pool, size=len(fams))
        popn.dirt[name] = int(len(fams))
    popn.aux = dict(p_pp=p_pp, outflow=outflow, p_np=p_np, mu=mu, a_child=a_child)
    return popn


# ----------------------------------------------------------------------------------------------
# Address spells (GBAADRESOBJECTBUS)
# ----------------------------------------------------------------------------------------------

def _segments(person, obj, start, end_excl, a, b):
    """Intersect home segments [start, end_excl) with presence [a, b); keep the non-empty ones."""
    s = np.maximum(start, a)
    e = np.minimum(end_excl, b)
    keep = (s < e) & (np.asarray(obj) >= 0)
    return person[keep], np.asarray(obj)[keep], s[keep], e[keep]


def build_spells(p: Population, *, last_year: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """All address spells as (person, object, start, end_excl) with end_excl NEVER for open spells."""
    rng = np.random.default_rng([seed, 31])
    end = _day(last_year, 12, 31)
    parts = []
    f = np.arange(len(p.f_start))
    seg1_end = np.where(p.f_move < NEVER, p.f_move + p.f_overlap, NEVER)
    # mothers and fathers in the family home
    for who, a, b in ((p.f_mother, p.f_start, np.full(len(f), NEVER)), (p.f_father, p.f_start, p.f_sep)):
        ok = who >= 0
        parts.append(_segments(who[ok], p.f_obj0[ok], p.f_start[ok], seg1_end[ok], a[ok], b[ok]))
        parts.append(_segments(who[ok], p.f_obj1[ok], p.f_move[ok], np.full(int(ok.sum()), NEVER), a[ok], b[ok]))
    # fathers after separation, parents before the family
    ok = p.f_sep < NEVER
    parts.append(_segments(p.f_father[ok], p.f_father_obj[ok], p.f_sep[ok], np.full(int(ok.sum()), NEVER),
                           p.f_sep[ok], np.full(int(ok.sum()), NEVER)))
    for who, obj in ((p.f_mother, p.mp_obj), (p.f_father, p.fp_obj)):
        ok = who >= 0
        adult = _month_to_day(p.birth_month[who[ok]] + 18 * 12)
        parts.append(_segments(who[ok], obj[ok], np.maximum(adult, GBA_START), p.f_start[ok], adult,
                               np.full(int(ok.sum()), NEVER)))
    # children at home, then on their own
    cf = p.c_fam
    birth = p.present_from[p.c_person]
    parts.append(_segments(p.c_person, p.f_obj0[cf], p.f_start[cf], seg1_end[cf], birth, p.c_leave))
    parts.append(_segments(p.c_person, p.f_obj1[cf], p.f_move[cf], np.full(len(cf), NEVER), birth, p.c_leave))
    own1_end = np.where(p.c_own_move < NEVER, p.c_own_move + p.c_own_overlap, NEVER)
    parts.append(_segments(p.c_person, p.c_own_obj0, p.c_leave, own1_end, p.c_leave, np.full(len(cf), NEVER)))
    parts.append(_segments(p.c_person, p.c_own_obj1, p.c_own_move, np.full(len(cf), NEVER), p.c_leave,
                           np.full(len(cf), NEVER)))
    # partners: a home of their own, then they move in with the child
    k = p.p_kid
    pf = p.c_partner_from[k]
    parts.append(_segments(p.p_person, p.p_prior_obj, np.maximum(p.present_from[p.p_person], GBA_START), pf,
                           p.present_from[p.p_person], np.full(len(k), NEVER)))
    parts.append(_segments(p.p_person, p.c_own_obj0[k], p.c_leave[k], own1_end[k], pf, np.full(len(k), NEVER)))
    parts.append(_segments(p.p_person, p.c_own_obj1[k], p.c_own_move[k], np.full(len(k), NEVER), pf,
                           np.full(len(k), NEVER)))
    # other households
    h = p.o_hh
    h1_end = np.where(p.h_move < NEVER, p.h_move + p.h_overlap, NEVER)
    parts.append(_segments(p.o_person, p.h_obj0[h], p.h_start[h], h1_end[h], p.h_start[h],
                           np.full(len(h), NEVER)))
    parts.append(_segments(p.o_person, p.h_obj1[h], p.h_move[h], np.full(len(h), NEVER), p.h_start[h],
                           np.full(len(h), NEVER)))
    person = np.concatenate([x[0] for x in parts])
    obj = np.concatenate([x[1] for x in parts]).astype(np.int64)
    start = np.concatenate([x[2] for x in parts]).astype(np.int64)
    stop = np.concatenate([x[3] for x in parts]).astype(np.int64)
    start = np.maximum(start, GBA_START)
    keep = (start < stop) & (start <= end)
    person, obj, start, stop = person[keep], obj[keep], start[keep], stop[keep]
    stop = np.where(stop - 1 >= end, NEVER, stop)
    sp = pd.DataFrame({"person": person, "obj": obj, "start": start, "stop": stop})
    dirt = {}
    # a few children without any address on their 15th birthday (a gap in the register)
    ref15 = _month_to_day(p.birth_month[p.c_person] + 180)
    bm = p.birth_month[p.c_person]
    in_cohort = (bm >= _month_index(1984, 1)) & (bm <= _month_index(2001, 12))
    gap_kids = _choose(rng, p.c_person[in_cohort], _n_dirt(len(p.c_person), 0.002))
    ref_of = pd.Series(ref15, index=p.c_person)
    cand = sp[sp["person"].isin(gap_kids)]
    r = ref_of.reindex(cand["person"]).to_numpy()
    covering = cand.index[(cand["start"].to_numpy() <= r) & (r < cand["stop"].to_numpy())]
    sp = sp.drop(index=covering).reset_index(drop=True)
    dirt["children_without_address_at_15"] = int(len(gap_kids))
    # exact duplicate rows
    dup = _choose(rng, np.arange(len(sp)), _n_dirt(len(sp), 0.001))
    sp = pd.concat([sp, sp.iloc[dup]], ignore_index=True)
    dirt["duplicate_address_rows"] = int(len(dup))
    return sp, dirt


def address_at(spells: pd.DataFrame, objs: Objects, persons: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The object each person lives at on `ref` by methodology §3: start <= ref <= end, latest start,
    then lowest RINOBJECTNUMMER; -1 without one."""
    ref_of = pd.Series(ref, index=persons)
    cand = spells[spells["person"].isin(persons)]
    r = ref_of.reindex(cand["person"]).to_numpy()
    cand = cand[(cand["start"].to_numpy() <= r) & (r <= cand["stop"].to_numpy() - 1)]
    cand = cand.assign(objrin=objs.rin[cand["obj"].to_numpy()])
    cand = cand.sort_values(["person", "start", "objrin"], ascending=[True, False, True], kind="mergesort")
    first = cand.drop_duplicates("person")
    found = pd.Series(first["obj"].to_numpy(), index=first["person"].to_numpy())
    return found.reindex(persons).fillna(-1).to_numpy(np.int64)


def assign_latent_status(p: Population, objs: Objects, spells: pd.DataFrame, *, seed: int) -> None:
    """Families poor with their buurt's p_parents_poor, children poor as young adults with the
    propensities of the buurt they lived in at 15 (from the address file the analysis reads)."""
    rng = np.random.default_rng([seed, 22])
    aux = p.aux
    ref15 = _month_to_day(p.birth_month[p.c_person] + 180)
    obj15 = address_at(spells, objs, p.c_person, ref15)
    p.c_obj15 = obj15
    p.c_buurt15 = np.where(obj15 >= 0, objs.buurt[np.maximum(obj15, 0)], -1)
    # the family's reference buurt: where its oldest child lived at 15 (else its first home)
    oldest = pd.Series(p.c_buurt15).groupby(p.c_fam).first()
    b_ref = objs.buurt[p.f_obj0].copy()
    has = oldest.reindex(np.arange(len(b_ref))).to_numpy()
    b_ref = np.where(np.nan_to_num(has, nan=-1) >= 0, np.nan_to_num(has, nan=0).astype(np.int64), b_ref)
    p.f_buurt_ref = b_ref
    n_f = len(b_ref)
    p.f_poor = rng.random(n_f) < aux["p_pp"][b_ref]
    p.f_z = np.where(p.f_poor, rng.normal(-1.6, 0.35, n_f), rng.normal(aux["mu"][b_ref], 0.85))
    bc = np.where(p.c_buurt15 >= 0, p.c_buurt15, b_ref[p.c_fam])
    fam_poor = p.f_poor[p.c_fam]
    n_c = len(bc)
    prob = np.where(fam_poor, aux["outflow"][bc], aux["p_np"][bc])
    p.c_poor = rng.random(n_c) < prob
    rho = 0.2
    z = aux["a_child"][bc] + rho * p.f_z[p.c_fam] + np.sqrt(1 - rho**2) * rng.normal(0, 1, n_c)
    p.c_z = np.where(p.c_poor, rng.normal(-1.6, 0.35, n_c), z)


# ----------------------------------------------------------------------------------------------
# Households per year (KOPPELPERSOONHUISHOUDEN, INHATAB)
# ----------------------------------------------------------------------------------------------

# Ages of the young-adult window of methodology §6, in which the planted status is to be measured.
ADULT_WINDOW = (24, 27)


def _income_line(year: int) -> float:
    if year in LOW_INCOME_LINE:
        return float(LOW_INCOME_LINE[year])
    if year > 2023:
        return LOW_INCOME_LINE[2023] * 1.025 ** (year - 2023)
    return LOW_INCOME_LINE[2008] * 0.98 ** (2008 - year)


def _median_income(year: int) -> float:
    return 24000.0 * 1.017 ** (year - 2011)


@dataclass
class Units:
    """Households over time: a family, a father after separation, a parent before the family, a
    child on its own (with partner), a partner before, another household."""
    n_f: int
    n_c: int
    n_p: int
    n_h: int
    latent: np.ndarray
    z: np.ndarray
    young_child: np.ndarray  # child index for the units of children on their own, -1 else

    @property
    def off(self) -> dict:
        n_f, n_c, n_p = self.n_f, self.n_c, self.n_p
        return {"fam": 0, "falone": n_f, "mprior": 2 * n_f, "fprior": 3 * n_f, "cown": 4 * n_f,
                "pprior": 4 * n_f + n_c, "other": 4 * n_f + n_c + n_p}

    @property
    def size(self) -> int:
        return 4 * self.n_f + self.n_c + self.n_p + self.n_h


def build_units(p: Population, *, seed: int) -> Units:
    rng = np.random.default_rng([seed, 41])
    n_f, n_c, n_p, n_h = len(p.f_start), len(p.c_person), len(p.p_person), len(p.h_head)
    fam_low = rng.normal(-1.6, 0.35, n_f)
    falone = (p.f_poor & (rng.random(n_f) < 0.7)) | (~p.f_poor & (rng.random(n_f) < 0.03))
    falone_z = np.where(falone, fam_low,
                        np.where(p.f_poor, rng.normal(-0.9, 0.4, n_f), p.f_z + rng.normal(0, 0.3, n_f)))
    mprior = p.f_poor & (rng.random(n_f) < 0.6)
    fprior = p.f_poor & (rng.random(n_f) < 0.6)
    pprior = rng.random(n_p) < 0.08
    latent = np.concatenate([p.f_poor, falone, mprior, fprior, p.c_poor, pprior, p.h_poor])
    z = np.concatenate([p.f_z, falone_z,
                        np.where(mprior, fam_low, p.f_z + rng.normal(0, 0.3, n_f)),
                        np.where(fprior, rng.normal(-1.6, 0.35, n_f), p.f_z + rng.normal(0, 0.3, n_f)),
                        p.c_z, np.where(pprior, rng.normal(-1.6, 0.35, n_p), rng.normal(-0.1, 0.9, n_p)), p.h_z])
    young = np.full(4 * n_f + n_c + n_p + n_h, -1, dtype=np.int64)
    young[4 * n_f:4 * n_f + n_c] = np.arange(n_c)
    return Units(n_f=n_f, n_c=n_c, n_p=n_p, n_h=n_h, latent=latent, z=z, young_child=young)


@dataclass
class YearOutput:
    year: int
    koppel: pd.DataFrame
    inha: pd.DataFrame
    koppel_loser: pd.DataFrame | None
    inha_loser: pd.DataFrame | None
    popiiv: np.ndarray | None = None   # INHPOPIIV of each inha row (also in the year without the column)


def household_years(p: Population, units: Units, *, first_year: int, last_year: int, seed: int,
                    popiiv_missing_year: int, inha_versions: dict, koppel_versions: dict,
                    dirt: dict):
    """Yields one YearOutput per income year: who lives in which household, and that household's
    income variables. Three years before the first are simulated for the four-year variables."""
    off = units.off
    U = units.size
    n_pers = len(p.role)
    years = list(range(first_year - 3, last_year + 1))
    ratio_hist = np.full((U, len(years)), np.nan, dtype=np.float32)
    poor_hist = np.zeros((U, len(years)), dtype=bool)
    rin_str = p.rin_str
    mothers = np.flatnonzero(p.role == ROLE_MOTHER)
    fathers = np.flatnonzero(p.role == ROLE_FATHER)
    m_f, fa_f = p.fam[mothers], p.fam[fathers]
    c_f = p.c_fam
    is_child_role = p.role == ROLE_CHILD
    child_at_home_unit = np.zeros(n_pers, dtype=bool)
    for k, year in enumerate(years):
        rng = np.random.default_rng([seed, 1000 + year])
        d = _day(year, 12, 31)
        unit = np.full(n_pers, -1, dtype=np.int64)
        fam_formed = p.f_start <= d
        separated = p.f_sep <= d
        unit[mothers] = np.where(fam_formed[m_f], off["fam"] + m_f, off["mprior"] + m_f)
        unit[fathers] = np.where(fam_formed[fa_f], np.where(separated[fa_f], off["falone"] + fa_f, off["fam"] + fa_f),
                                 off["fprior"] + fa_f)
        left = p.c_leave <= d
        unit[p.c_person] = np.where(left, off["cown"] + np.arange(len(c_f)), off["fam"] + c_f)
        kp = p.p_kid
        unit[p.p_person] = np.where(p.c_partner_from[kp] <= d, off["cown"] + kp, off["pprior"] + np.arange(len(kp)))
        unit[p.o_person] = off["other"] + p.o_hh
        present = (p.present_from <= d) & (unit >= 0)
        child_at_home_unit[:] = False
        child_at_home_unit[p.c_person] = ~left
        c_age = year - (p.birth_month[p.c_person] // 12 + 1970)
        earner = ~left & ~p.c_poor & (c_age >= ADULT_WINDOW[0]) & (p.present_from[p.c_person] <= d)
        earner_home = np.zeros(U, dtype=bool)
        earner_home[off["fam"] + c_f[earner]] = True
        # who is the household's main breadwinner (RINPERSOONHKW)
        hkw = np.full(U, -1, dtype=np.int64)
        fam_idx = np.arange(units.n_f)
        couple_now = (p.f_mother >= 0) & (p.f_father >= 0) & ~separated
        hkw[off["fam"] + fam_idx] = np.where(couple_now, np.where(p.f_bw_father, p.f_father, p.f_mother),
                                             np.where(p.f_mother >= 0, p.f_mother, p.f_father))
        hkw[off["falone"] + fam_idx] = p.f_father
        hkw[off["mprior"] + fam_idx] = p.f_mother
        hkw[off["fprior"] + fam_idx] = p.f_father
        partner_head = p.c_partner_hkw & (p.c_partner_from <= d)
        hkw[off["cown"] + np.arange(units.n_c)] = np.where(partner_head, p.c_partner, p.c_person)
        hkw[off["pprior"] + np.arange(units.n_p)] = p.p_person
        hkw[off["other"] + np.arange(units.n_h)] = p.h_head
        members = np.flatnonzero(present)
        m_unit = unit[members]
        size = np.bincount(m_unit, minlength=U)
        kids_home = np.bincount(m_unit, weights=child_at_home_unit[members], minlength=U).astype(np.int64)
        minors = np.bincount(m_unit, weights=(child_at_home_unit[members]
                                              & (year - (p.birth_month[members] // 12 + 1970) < 18)), minlength=U)
        live = np.flatnonzero(size > 0)
        n_live = len(live)
        # ---- type of each household this year (computed for the live households only)
        popiiv_all = np.ones(U, dtype=np.int64)
        cown = np.arange(off["cown"], off["cown"] + units.n_c)
        stud = (year >= p.c_student_from) & (year <= p.c_student_to)
        popiiv_all[cown[stud]] = 2
        popiiv_all[cown[p.c_inst]] = 3
        oth = off["other"] + np.arange(units.n_h)
        inst_now = p.h_inst_year <= year
        popiiv_all[oth[inst_now]] = p.h_inst_type[inst_now]
        popiiv = popiiv_all[live]
        u_type = rng.random(n_live)
        regular = popiiv == 1
        popiiv[regular & (u_type < 0.004)] = 7
        popiiv[regular & (u_type >= 0.004) & (u_type < 0.0042)] = 9
        # ---- poverty and income rank
        yc = units.young_child[live]
        age_young = np.where(yc >= 0, year - (p.birth_month[p.c_person[np.maximum(yc, 0)]] // 12 + 1970), 99)
        # In the adult window of methodology §6 (ages 24-27) a young adult's status is nearly fully
        # persistent, so that the "at least half of the valid years" rule measures the planted status
        # (with two or three valid years, one transient year would otherwise decide it).
        in_window = (age_young >= ADULT_WINDOW[0]) & (age_young <= ADULT_WINDOW[1])
        q = np.where(units.latent[live], np.where(in_window, 0.97, 0.88),
                     np.where(age_young < 24, 0.06, np.where(in_window, 0.003, 0.02)))
        poor = (rng.random(n_live) < q) & ((popiiv == 1) | (popiiv == 2))
        # an adult child at home who is not poor brings in enough to lift the family's household
        poor &= ~earner_home[live]
        pi_t = float(ndtr((np.log(_income_line(year)) - np.log(_median_income(year))) / INCOME_SIGMA))
        zz = units.z[live] - np.where(age_young < 24, 0.5, 0.0) + 0.25 * rng.normal(0, 1, n_live)
        r_nonpoor = pi_t + 1e-4 + (1 - pi_t - 2e-4) * ndtr(zz)
        r_poor = pi_t * (0.04 + 0.92 * rng.random(n_live))
        rank = np.where(poor, r_poor, r_nonpoor)
        gest = _median_income(year) * np.exp(INCOME_SIGMA * ndtri(rank))
        line = _income_line(year)
        ratio = np.floor(100.0 * gest / line)
        negative = (popiiv == 1) & ~poor & (rng.random(n_live) < 0.001)
        gest = np.where(negative, -rng.uniform(500, 20000, n_live), gest)
        ratio = np.where(negative, np.minimum(np.floor(100.0 * gest / line), -5.0), ratio)
        valid_income = (popiiv == 1) | (popiiv == 2)
        ratio_hist[live, k] = np.where(valid_income, ratio, np.nan)
        poor_hist[live, k] = poor & (popiiv == 1)
        if year < first_year:
            continue
        # ---- KOPPELPERSOONHUISHOUDEN
        ch = members[is_child_role[members] & child_at_home_unit[members]]
        ch_age = year - (p.birth_month[ch] // 12 + 1970)
        drop_child = ch[(ch_age >= 12) & (ch_age <= 17) & (rng.random(len(ch)) < 0.012)]
        drop_any = members[rng.random(len(members)) < 0.004]
        dropped = np.union1d(drop_child, drop_any)
        dirt["koppel_missing_child_at_home_12_17"] = dirt.get("koppel_missing_child_at_home_12_17", 0) + len(drop_child)
        dirt["koppel_missing_person_years"] = dirt.get("koppel_missing_person_years", 0) + len(dropped)
        kmem = np.setdiff1d(members, dropped, assume_unique=True)
        head = hkw[unit[kmem]]
        order = p.sort_key(kmem)
        kmem, head = kmem[order], head[order]
        koppel = _frame({"RINPERSOONS": p.rinps[kmem], "RINPERSOON": rin_str[kmem],
                         "RINPERSOONSHKW": p.rinps[head], "RINPERSOONHKW": rin_str[head]})
        koppel_loser = None
        if len(koppel_versions[year]) > 1:
            rng_l = np.random.default_rng([seed, 2000 + year])
            wrong = rng_l.random(len(kmem)) < 0.03
            other_head = head[rng_l.integers(0, len(head), size=len(head))]
            head_l = np.where(wrong, other_head, head)
            keep = rng_l.random(len(kmem)) >= 0.02
            koppel_loser = _frame({"RINPERSOONS": p.rinps[kmem][keep], "RINPERSOON": rin_str[kmem][keep],
                                   "RINPERSOONSHKW": p.rinps[head_l][keep], "RINPERSOONHKW": rin_str[head_l][keep]})
        # ---- INHATAB
        hh = live
        hp = hkw[hh]
        sorted_keys = np.sort(p.key(hp))
        if (sorted_keys[1:] == sorted_keys[:-1]).any():
            raise RuntimeError(f"household keys are not unique in {year}")
        t = popiiv
        parents = size[hh] - kids_home[hh]
        kids = kids_home[hh]
        adult_kids = kids - minors[hh].astype(np.int64)
        sam = np.where(kids == 0, np.where(parents <= 1, 11, np.where(parents == 2, 21, 51)),
                       np.where(parents >= 2, 31, 41))
        sam = sam + np.where(kids > 0, np.where(adult_kids == 0, 0, np.where(adult_kids == kids, 2, 1)), 0)
        sam = np.where((t == 3) | (t == 8), 71, np.where(t == 9, 88, sam))
        equiv = 1.0 + 0.37 * np.maximum(parents - 1, 0) + 0.23 * kids
        g = gest
        rk = rank
        best = np.round(g * equiv)
        brut = np.round(np.where(g > 0, best * (1.15 + 0.6 * rk), np.abs(best) * 0.3))
        pct = np.clip(np.ceil(100 * rk), 1, 100)
        pct = np.where(negative, 1, pct)
        arm = ratio
        med = _median_income(year)
        armeur = np.floor(100.0 * g / (0.6 * med))
        armsoc = np.floor(100.0 * g / (1.05 * line))
        # four-year variable: long-term low income when below the line in this and the three years before
        win = ratio_hist[hh, k - 3:k + 1]
        poor4 = poor_hist[hh, k - 3:k + 1].all(axis=1)
        n_prev = np.isfinite(win[:, :3]).sum(axis=1)
        n_valid4 = np.isfinite(win).sum(axis=1)
        mean4 = np.floor(np.nansum(win, axis=1) / np.maximum(n_valid4, 1))
        mean4 = np.where(n_valid4 > 0, mean4, np.nan)
        arml = np.where(poor4, np.minimum(mean4, 99), np.maximum(np.nan_to_num(mean4, nan=100), 100))
        arml = np.where(n_prev < 2, -4, arml)
        hh_poor = poor
        u1, u2, u3 = rng.random(len(hh)), rng.random(len(hh)), rng.random(len(hh))
        head_age = year - (p.birth_month[hp] // 12 + 1970)
        bb = np.where(hh_poor, np.select([u1 < 0.4, u1 < 0.6, u1 < 0.75, u1 < 0.95], [22, 24, 21, 11], 13),
                      np.select([u1 < 0.75, u1 < 0.77, u1 < 0.85, u1 < 0.9, u1 < 0.99], [11, 12, 13, 24, 23], 30))
        bb = np.where(~hh_poor & (head_age >= 67), 25, bb)
        bb = np.where(negative, 13, bb)
        owner_p = np.clip(1.6 * (rk - 0.25), 0, 0.85)
        eh = np.where(u2 < owner_p, 1, np.where((rk < 0.3) & (u3 < 0.6), 3, 2))
        eh = np.where(u3 > 0.997, 9, eh)
        uaf = np.where(hh_poor, np.floor(55 + 45 * u2), np.where(u3 < 0.85, 0, np.floor(40 * u1)))
        stud_hh = t == 2
        bb = np.where(stud_hh, 26, bb)
        eh = np.where(stud_hh, 2, eh)
        uaf = np.where(stud_hh, 0, uaf)
        arml = np.where(stud_hh, -4, arml)
        inst = (t == 3) | (t == 8)
        unknown = (t == 7) | (t == 9)
        code = np.where(inst, -2.0, -1.0)
        special = inst | unknown
        pct, arm, arml, armeur, armsoc, uaf = (np.where(special, code, v)
                                               for v in (pct, arm, arml, armeur, armsoc, uaf))
        inst_best = np.round(rng.uniform(14000, 26000, len(hh)))
        gest_out = np.where(special, AMOUNT_UNKNOWN, np.round(g))
        best_out = np.where(t == 3, inst_best, np.where(special, AMOUNT_UNKNOWN, best))
        brut_out = np.where(t == 3, np.round(inst_best * 1.2), np.where(special, AMOUNT_UNKNOWN, brut))
        bb = np.where(t == 3, np.where(head_age >= 67, 25, 24), np.where(special, 99, bb))
        eh = np.where(inst, 8, np.where(unknown, 9, eh))
        ahl = np.where(t == 9, 99, size[hh])
        order = p.sort_key(hp)
        cols = {
            "RINPERSOONSHKW": p.rinps[hp][order], "RINPERSOONHKW": rin_str[hp][order],
            "INHPOPIIV": t[order], "INHP100HGEST": pct[order], "INHARMLAG": arm[order],
            "INHARMLAGL": arml[order], "INHARMEUR": armeur[order], "INHARMSOC": armsoc[order],
            "INHGESTINKH": gest_out[order], "INHBESTINKH": best_out[order], "INHBRUTINKH": brut_out[order],
            "INHSAMHH": sam[order], "INHAHL": ahl[order], "INHBBIHJ": bb[order], "INHEHALGR": eh[order],
            "INHUAF": uaf[order],
        }
        if year == popiiv_missing_year:
            del cols["INHPOPIIV"]
        inha = _frame(cols)
        for name, mask in (("income_unknown_household_years", t == 7), ("income_popiiv9_household_years", t == 9),
                           ("student_household_years", stud_hh), ("institutional_household_years", inst),
                           ("negative_income_household_years", negative)):
            dirt[name] = dirt.get(name, 0) + int(mask.sum())
        inha_loser = None
        if len(inha_versions[year]) > 1:
            rng_l = np.random.default_rng([seed, 3000 + year])
            loser = inha.copy()
            hit = (rng_l.random(len(loser)) < 0.15) & (loser["INHP100HGEST"].to_numpy() > 0)
            arm_l = loser["INHARMLAG"].to_numpy().copy()
            arm_l[hit] = np.floor(arm_l[hit] * 1.12)
            pct_l = loser["INHP100HGEST"].to_numpy().copy()
            pct_l[hit] = np.clip(pct_l[hit] + 3, 1, 100)
            loser["INHARMLAG"] = arm_l
            loser["INHP100HGEST"] = pct_l
            inha_loser = loser
        out = YearOutput(year=year, koppel=koppel, inha=inha, koppel_loser=koppel_loser, inha_loser=inha_loser,
                         popiiv=t[order])
        # let go of this year's arrays while the caller writes the tables
        del (unit, fam_formed, separated, left, present, c_age, earner, earner_home, hkw, fam_idx, couple_now,
             partner_head, members, m_unit, size, kids_home, minors, live, popiiv_all, cown, stud, oth, inst_now,
             popiiv, u_type, regular, yc, age_young, in_window, q, poor, zz, r_nonpoor, r_poor, rank, gest, ratio,
             negative, valid_income, ch, ch_age, drop_child, drop_any, dropped, kmem, head, order, koppel,
             koppel_loser, hh, hp, sorted_keys, t, parents, kids, adult_kids, sam, equiv, g, rk, best, brut, pct,
             arm, armeur, armsoc, win, poor4, n_prev, n_valid4, mean4, arml, hh_poor, u1, u2, u3, head_age, bb,
             owner_p, eh, uaf, stud_hh, inst, unknown, code, special, inst_best, gest_out, best_out, brut_out, ahl,
             cols, inha, inha_loser)
        yield out
        del out


INHA_FORMATS = {"RINPERSOONSHKW": "A1", "RINPERSOONHKW": "A9", "INHPOPIIV": "F1.0", "INHP100HGEST": "F4.0",
                "INHARMLAG": "F6.0", "INHARMLAGL": "F6.0", "INHARMEUR": "F6.0", "INHARMSOC": "F6.0",
                "INHGESTINKH": "F11.0", "INHBESTINKH": "F11.0", "INHBRUTINKH": "F11.0", "INHSAMHH": "F2.0",
                "INHAHL": "F2.0", "INHBBIHJ": "F2.0", "INHEHALGR": "F1.0", "INHUAF": "F4.0"}
INHA_LABELS = {"RINPERSOONSHKW": RINPERSOONS_LABELS, "INHPOPIIV": POPIIV_LABELS, "INHP100HGEST": P100_LABELS,
               "INHARMLAG": ARM_LABELS, "INHARMLAGL": ARML_LABELS, "INHARMEUR": ARM_LABELS,
               "INHARMSOC": ARM_LABELS, "INHSAMHH": SAMHH_LABELS, "INHBBIHJ": BBIHJ_LABELS,
               "INHEHALGR": EHALGR_LABELS, "INHUAF": UAF_LABELS}
KOPPEL_FORMATS = {"RINPERSOONS": "A1", "RINPERSOON": "A9", "RINPERSOONSHKW": "A1", "RINPERSOONHKW": "A9"}
KOPPEL_LABELS = {"RINPERSOONS": RINPERSOONS_LABELS, "RINPERSOONSHKW": RINPERSOONS_LABELS}


# ----------------------------------------------------------------------------------------------
# Income years before 2011 (IHI) and the new poverty line (INHARMATAB)
# ----------------------------------------------------------------------------------------------

IHI_LAST_YEAR = 2010          # IHI up to 2010, INHATAB from 2011 (cbs-microdata.md §3)
IHI_FIRST_YEAR = 2003         # integral income files start in 2003 (anchors.md §3)
IHI_AMOUNT_UNKNOWN = 999999999.0
# BVRLICAT / BVRLICATL: income relative to the lage-inkomensgrens, this year / four years. The real
# code list is UNVERIFIED; third-party Remote Access code reads category 4 as below the line and
# categories 1-3 as no status (anchors.md §1.5). This generator assumes the list below.
LICAT_LABELS = {1: "Institutioneel huishouden", 2: "Inkomen onbekend", 3: "Studentenhuishouden",
                4: "Onder de lage-inkomensgrens", 5: "Op of boven de lage-inkomensgrens", 6: "Negatief inkomen"}
LICATL_LABELS = {1: "Institutioneel huishouden", 2: "Inkomen onbekend",
                 3: "Studentenhuishouden of niet in doelpopulatie in twee of meer van de drie voorgaande jaren",
                 4: "Vier jaar of langer onder de lage-inkomensgrens", 5: "Niet vier jaar onder de lage-inkomensgrens"}
EHALG_LABELS = {1: "Eigen woning", 2: "Huurwoning met huurtoeslag", 3: "Huurwoning zonder huurtoeslag",
                9: "Onbekend"}
IHI_FORMATS = {"RINPERSOONSKERN": "A1", "RINPERSOONKERN": "A9", "BVRGESTINKH": "F10.0", "BVRBESTINKH": "F10.0",
               "BVRBRUTINKH": "F10.0", "BVRPERCGESTINKH": "A2", "BVRLICAT": "F1.0", "BVRLICATL": "F1.0",
               "BVRBBIHJ": "F2.0", "BVREHALG": "F1.0", "BVRAHL": "F2.0"}
IHI_LABELS = {"RINPERSOONSKERN": RINPERSOONS_LABELS, "BVRLICAT": LICAT_LABELS, "BVRLICATL": LICATL_LABELS,
              "BVRBBIHJ": BBIHJ_LABELS, "BVREHALG": EHALG_LABELS}
IVB_FORMATS = {"RINPERSOONS": "A1", "RINPERSOON": "A9", "RINPERSOONSKERN": "A1", "RINPERSOONKERN": "A9"}
IVB_LABELS = {"RINPERSOONS": RINPERSOONS_LABELS, "RINPERSOONSKERN": RINPERSOONS_LABELS}

# The new CBS poverty line (INHARMATAB INHARMOEDE, % of the line, from 2018): planted as a line a
# little above the lage-inkomensgrens in euros, while a wealth buffer lifts part of the households
# below it (owners more often), so the new line finds fewer poor households than INHARMLAG (as CBS
# reported for 2023). 998 = not in the target population (student, institutional), 999 = unknown.
INHARMA_FIRST_YEAR = 2018
NEW_LINE_FACTOR = 1.03
BUFFER_LIFT_OWNER = 0.55
BUFFER_LIFT_OTHER = 0.25
INHARMA_MISSING_ROWS = 0.003
INHARMOEDE_LABELS = {998: "Niet in doelpopulatie", 999: "Onbekend"}
INHARMA_FORMATS = {"RINPERSOONSHKW": "A1", "RINPERSOONHKW": "A9", "RINPERSOONS": "A1", "RINPERSOON": "A9",
                   "INHARMOEDE": "F4.0"}
INHARMA_LABELS = {"RINPERSOONSHKW": RINPERSOONS_LABELS, "RINPERSOONS": RINPERSOONS_LABELS,
                  "INHARMOEDE": INHARMOEDE_LABELS}


def ihi_table(inha: pd.DataFrame, popiiv: np.ndarray) -> pd.DataFrame:
    """The IHI (HUISHBVRINK) form of one year's household rows: KERN key, BVR* names and codes,
    percentiles 0..99 as two-character text (" 0"; empty when unknown), 999999999 for unknown amounts."""
    t = np.asarray(popiiv)
    inst, unknown, stud = (t == 3) | (t == 8), (t == 7) | (t == 9), t == 2
    arm = inha["INHARMLAG"].to_numpy(np.float64)
    arml = inha["INHARMLAGL"].to_numpy(np.float64)
    pct = inha["INHP100HGEST"].to_numpy(np.float64)
    licat = np.select([inst, unknown, stud, arm < 0, arm < 100], [1, 2, 3, 6, 4], 5)
    licatl = np.select([inst, unknown, stud | (arml == -4), (arml >= 0) & (arml < 100)], [1, 2, 3, 4], 5)
    pct_txt = np.array([f"{int(v) - 1:2d}" if v >= 1 else "" for v in pct], dtype=object)

    def amount(col):
        v = inha[col].to_numpy(np.float64)
        return np.where(v == AMOUNT_UNKNOWN, IHI_AMOUNT_UNKNOWN, v)

    eh = inha["INHEHALGR"].to_numpy(np.int64)
    eh = np.select([eh == 2, eh == 3, eh == 8], [3, 2, 9], eh)   # IHI swaps 2 and 3 (cbs-microdata.md §3)
    return _frame({
        "RINPERSOONSKERN": inha["RINPERSOONSHKW"].to_numpy(dtype=object),
        "RINPERSOONKERN": inha["RINPERSOONHKW"].to_numpy(dtype=object),
        "BVRGESTINKH": amount("INHGESTINKH"), "BVRBESTINKH": amount("INHBESTINKH"),
        "BVRBRUTINKH": amount("INHBRUTINKH"), "BVRPERCGESTINKH": pct_txt,
        "BVRLICAT": licat, "BVRLICATL": licatl, "BVRBBIHJ": inha["INHBBIHJ"].to_numpy(np.int64),
        "BVREHALG": eh, "BVRAHL": inha["INHAHL"].to_numpy(np.int64),
    })


def ivb_table(koppel: pd.DataFrame) -> pd.DataFrame:
    """Koppeltabel_IPI_IHI_IVB: the person -> household link of an IHI year (KERN key)."""
    return koppel.rename(columns={"RINPERSOONSHKW": "RINPERSOONSKERN", "RINPERSOONHKW": "RINPERSOONKERN"})


def inharma_table(inha: pd.DataFrame, popiiv: np.ndarray, koppel: pd.DataFrame, *, year: int, seed: int,
                  person_key: bool) -> tuple[pd.DataFrame, dict]:
    """INHARMATAB of one year (household key, or person key when ``person_key``) and the planted
    shares poor on both lines among private households with income (INHPOPIIV 1)."""
    rng = np.random.default_rng([seed, 4000 + year])
    t = np.asarray(popiiv)
    gest = inha["INHGESTINKH"].to_numpy(np.float64)
    arm = inha["INHARMLAG"].to_numpy(np.float64)
    owner = inha["INHEHALGR"].to_numpy(np.int64) == 1
    ok = (t == 1) & (gest != AMOUNT_UNKNOWN) & (gest >= 0)
    moede = np.floor(100.0 * np.where(ok, gest, 0.0) / (NEW_LINE_FACTOR * _income_line(year)))
    lift = ok & (moede < 100) & (rng.random(len(t)) < np.where(owner, BUFFER_LIFT_OWNER, BUFFER_LIFT_OTHER))
    moede = np.where(lift, 100 + np.floor(30 * rng.random(len(t))), moede)
    moede = np.minimum(moede, 997.0)   # 998 and 999 are codes: the rich are capped below them
    moede = np.where(ok, moede, np.where((t == 2) | (t == 3) | (t == 8), 998.0, 999.0))
    pop = t == 1
    shares = {"share_poor_inharmlag": round(float(((arm >= 0) & (arm < 100) & pop).sum() / max(pop.sum(), 1)), 4),
              "share_poor_inharmoede": round(float(((moede < 100) & pop).sum() / max(pop.sum(), 1)), 4),
              "households_lifted_by_buffer": int(lift.sum())}
    keep = rng.random(len(t)) >= INHARMA_MISSING_ROWS
    hh = _frame({"RINPERSOONSHKW": inha["RINPERSOONSHKW"].to_numpy(dtype=object)[keep],
                 "RINPERSOONHKW": inha["RINPERSOONHKW"].to_numpy(dtype=object)[keep],
                 "INHARMOEDE": moede[keep]})
    shares["households_missing_from_inharmatab"] = int((~keep).sum())
    if not person_key:
        return hh, shares
    per = koppel.merge(hh, on=["RINPERSOONSHKW", "RINPERSOONHKW"], how="inner", validate="m:1")
    return _frame({"RINPERSOONS": per["RINPERSOONS"].to_numpy(dtype=object),
                   "RINPERSOON": per["RINPERSOON"].to_numpy(dtype=object),
                   "INHARMOEDE": per["INHARMOEDE"].to_numpy(np.float64)}), shares


def ihi_versions(year: int, first_year: int) -> tuple[int, ...]:
    """Versions of HUISHBVRINK{year}TAB on disk: the first IHI year has a losing V1 beside V2."""
    return (1, 2) if year == first_year else (1,)


def ivb_path(inc: Path, year: int, first_year: int) -> Path:
    """Where Koppeltabel_IPI_IHI_IVB{year} lies: beside IHI, except two years elsewhere (beside IPI in
    upper case with a version, and in a folder of its own with spaces), as projects report."""
    if year == first_year + 2:
        return inc / "INTEGRAAL PERSOONLIJK INKOMEN" / str(year) / f"KOPPELTABEL_IPI_IHI_IVB{year}V1.sav"
    if year == first_year + 4:
        return inc / "Koppeltabel IPI IHI IVB" / f"Koppeltabel_IPI_IHI_IVB {year}.sav"
    return inc / "INTEGRAAL HUISHOUDENS INKOMEN" / str(year) / f"Koppeltabel_IPI_IHI_IVB{year}.sav"


# ----------------------------------------------------------------------------------------------
# Persons and parents (GBAPERSOONTAB, KINDOUDERTAB) with their dirt
# ----------------------------------------------------------------------------------------------

GBA_FORMATS = {"RINPERSOONS": "A1", "RINPERSOON": "A9", "GBAGEBOORTELAND": "A4", "GBAGESLACHT": "A1",
               "GBAGEBOORTELANDMOEDER": "A4", "GBAGEBOORTELANDVADER": "A4", "GBAAANTALOUDERSBUITENLAND": "A1",
               "GBAHERKOMSTGROEPERING": "A4", "GBAGENERATIE": "A1", "GBAGEBOORTEJAAR": "A4",
               "GBAGEBOORTEMAAND": "A2", "GBAGEBOORTEDAG": "A2"}
GBA_LABELS = {"RINPERSOONS": RINPERSOONS_LABELS, "GBAGESLACHT": SEX_LABELS, "GBAGEBOORTELAND": COUNTRY_LABELS,
              "GBAGEBOORTELANDMOEDER": COUNTRY_LABELS, "GBAGEBOORTELANDVADER": COUNTRY_LABELS,
              "GBAHERKOMSTGROEPERING": COUNTRY_LABELS, "GBAGENERATIE": GENERATION_LABELS,
              "GBAAANTALOUDERSBUITENLAND": PARENTS_ABROAD_LABELS}
KINDOUDER_FORMATS = {"RINPERSOONS": "A1", "RINPERSOON": "A9", "RINPERSOONSpa": "A1", "RINPERSOONpa": "A9",
                     "RINPERSOONSMa": "A1", "RINPERSOONMa": "A9", "XKOPPELNUMMER": "A12"}
KINDOUDER_LABELS = {"RINPERSOONS": RINPERSOONS_LABELS, "RINPERSOONSpa": PARENT_S_LABELS,
                    "RINPERSOONSMa": PARENT_S_LABELS}
ADRES_FORMATS = {"RINPERSOONS": "A1", "RINPERSOON": "A9", "GBADATUMAANVANGADRESHOUDING": "A8",
                 "GBADATUMEINDEADRESHOUDING": "A8", "SOORTOBJECTNUMMER": "A1", "RINOBJECTNUMMER": "A16"}
ADRES_LABELS = {"RINPERSOONS": RINPERSOONS_LABELS, "SOORTOBJECTNUMMER": SOORT_LABELS}


def plant_identity_dirt(p: Population, *, seed: int) -> dict:
    """RINPERSOONS N and S, unknown birth dates, missing herkomst: changes persons in place."""
    rng = np.random.default_rng([seed, 51])
    dirt = {}
    kids = p.c_person
    n_kids = _choose(rng, kids, _n_dirt(len(kids), 0.003, minimum=4))
    p.rinps[n_kids] = "N"
    # half of them share their RINPERSOON with an R person: only the pair identifies a person
    others = p.o_person[p.rinps[p.o_person] == "R"]
    share = n_kids[: len(n_kids) // 2]
    if len(others) >= len(share):
        p.rin[share] = p.rin[rng.choice(others, size=len(share), replace=False)]
    dirt["children_rinpersoons_N"] = int(len(n_kids))
    dirt["rinpersoon_shared_by_N_and_R"] = int(len(share))
    singles = p.h_head[np.bincount(p.o_hh, minlength=len(p.h_head)) == 1]
    s_pers = _choose(rng, singles, _n_dirt(len(p.o_person), 0.001))
    p.rinps[s_pers] = "S"
    dirt["persons_rinpersoons_S"] = int(len(s_pers))
    return dirt


def gba_table(p: Population, *, seed: int, dirt: dict, drop: np.ndarray) -> pd.DataFrame:
    """GBAPERSOONTAB of the winning edition (persons in `drop` are left out)."""
    rng = np.random.default_rng([seed, 52])
    n = len(p.role)
    year = (p.birth_month // 12 + 1970).astype(np.int64)
    month = (p.birth_month % 12 + 1).astype(np.int64)
    # the same string object for equal values (a few hundred distinct ones, not one per person)
    y_vals, y_inv = np.unique(year, return_inverse=True)
    y_str = y_vals.astype("U4").astype(object)[y_inv]
    m_vals, m_inv = np.unique(month, return_inverse=True)
    m_str = np.char.zfill(m_vals.astype("U2"), 2).astype(object)[m_inv]
    del y_vals, y_inv, m_vals, m_inv
    unknown_year = _choose(rng, np.arange(n), _n_dirt(n, 0.0015, minimum=3))
    unknown_month = _choose(rng, np.setdiff1d(np.arange(n), unknown_year), _n_dirt(n, 0.0015, minimum=3))
    # make sure some children of the analysis' default cohort are among them
    cohort_kids = p.c_person[(year[p.c_person] >= TRUTH_COHORT[0]) & (year[p.c_person] <= TRUTH_COHORT[1])]
    extra = _choose(rng, np.setdiff1d(cohort_kids, np.union1d(unknown_year, unknown_month)), 4)
    unknown_year = np.union1d(unknown_year, extra[:2])
    unknown_month = np.union1d(unknown_month, extra[2:])
    y_str[unknown_year] = "----"
    m_str[unknown_year] = "--"
    m_str[unknown_month] = "--"
    dirt["unknown_birth_year"] = int(len(unknown_year))
    dirt["unknown_birth_month"] = int(len(unknown_month))
    sex = p.sex.copy()
    sex[_choose(rng, p.o_person, _n_dirt(n, 0.0001, minimum=1))] = "-"
    herk = p.herkomst.copy()
    gen = p.generation.copy()
    miss = _choose(rng, np.arange(n), _n_dirt(n, 0.002))
    herk[miss] = np.where(rng.random(len(miss)) < 0.6, "----", "0000")
    gen[miss] = "-"
    land = p.land.copy()
    land[_choose(rng, np.flatnonzero(p.land != "6030"), _n_dirt(n, 0.0005, minimum=1))] = "----"
    dirt["herkomst_missing"] = int(len(miss))
    keep = np.setdiff1d(np.arange(n), drop)
    order = keep[p.sort_key(keep)]
    p.gba_year, p.gba_month = y_str, m_str
    return _frame({
        "RINPERSOONS": p.rinps[order], "RINPERSOON": p.rin_str[order],
        "GBAGEBOORTELAND": land[order], "GBAGESLACHT": sex[order],
        "GBAGEBOORTELANDMOEDER": p.land_mother[order], "GBAGEBOORTELANDVADER": p.land_father[order],
        "GBAAANTALOUDERSBUITENLAND": p.parents_abroad[order], "GBAHERKOMSTGROEPERING": herk[order],
        "GBAGENERATIE": gen[order], "GBAGEBOORTEJAAR": y_str[order], "GBAGEBOORTEMAAND": m_str[order],
        "GBAGEBOORTEDAG": np.full(len(order), "01", dtype=object),
    })


def kindouder_table(p: Population, *, seed: int, dirt: dict) -> tuple[pd.DataFrame, dict]:
    """KINDOUDERTAB rows of every child (and of some adults without known parents), with dirt.

    Returns the table and per-child flags of the planted link problems (for the truth)."""
    rng = np.random.default_rng([seed, 53])
    rin_str = p.rin_str
    c = p.c_person
    fam = p.c_fam
    fa, mo = p.f_father[fam], p.f_mother[fam]
    n = len(c)
    missing_form = rng.random(n) < 0.7
    pa_s = np.where(fa >= 0, p.rinps[np.maximum(fa, 0)], np.where(missing_form, "-", "")).astype(object)
    pa = np.where(fa >= 0, rin_str[np.maximum(fa, 0)], np.where(missing_form, "---------", "")).astype(object)
    missing_form = rng.random(n) < 0.7
    ma_s = np.where(mo >= 0, p.rinps[np.maximum(mo, 0)], np.where(missing_form, "-", "")).astype(object)
    ma = np.where(mo >= 0, rin_str[np.maximum(mo, 0)], np.where(missing_form, "---------", "")).astype(object)
    dirt["kindouder_missing_father_link"] = int((fa < 0).sum())
    dirt["kindouder_missing_mother_link"] = int((mo < 0).sum())
    flags = {"parent_rin_is_child": np.zeros(n, dtype=bool), "conflicting_rows": np.zeros(n, dtype=bool),
             "duplicate_rows": np.zeros(n, dtype=bool)}
    pool = np.flatnonzero((fa >= 0) & (p.rinps[c] == "R"))
    same = _choose(rng, pool, _n_dirt(n, 0.0005, minimum=3))
    pa[same] = rin_str[c[same]]
    flags["parent_rin_is_child"][same] = True
    dirt["parent_rin_equals_child_rin"] = int(len(same))
    rest = np.setdiff1d(np.flatnonzero(p.rinps[c] == "R"), same)
    conflict = _choose(rng, rest, _n_dirt(n, 0.001, minimum=3))
    rest = np.setdiff1d(rest, conflict)
    dup = _choose(rng, rest, _n_dirt(n, 0.002, minimum=3))
    flags["conflicting_rows"][conflict] = True
    flags["duplicate_rows"][dup] = True
    men = np.flatnonzero((p.sex == "1") & (p.role != ROLE_CHILD))
    # padded to the A12 width: pyreadstat 1.3 would otherwise store the data's width (A2)
    x = np.char.ljust(rng.choice(XKOPPEL_CODES, size=n, p=[0.5, 0.2, 0.2, 0.1]).astype("U12"), 12).astype(object)
    rows = {"RINPERSOONS": p.rinps[c], "RINPERSOON": rin_str[c], "RINPERSOONSpa": pa_s, "RINPERSOONpa": pa,
            "RINPERSOONSMa": ma_s, "RINPERSOONMa": ma, "XKOPPELNUMMER": x}
    base = pd.DataFrame({k: _obj(v) for k, v in rows.items()})
    extra_conf = base.iloc[conflict].reset_index(drop=True)
    extra_conf["RINPERSOONSpa"] = _obj(np.full(len(conflict), "R", dtype=object))
    extra_conf["RINPERSOONpa"] = _obj(rin_str[rng.choice(men, size=len(conflict))])
    extra_dup = base.iloc[dup].reset_index(drop=True)
    dirt["kindouder_conflicting_children"] = int(len(conflict))
    dirt["kindouder_exact_duplicate_rows"] = int(len(dup))
    # adults without known parents: also in the file, with both links missing
    adults = np.flatnonzero(p.role != ROLE_CHILD)
    some = _choose(rng, adults, int(0.1 * len(adults)))
    form = rng.random(len(some)) < 0.7
    nolink = pd.DataFrame({
        "RINPERSOONS": _obj(p.rinps[some]), "RINPERSOON": _obj(rin_str[some]),
        "RINPERSOONSpa": _obj(np.where(form, "-", "")), "RINPERSOONpa": _obj(np.where(form, "---------", "")),
        "RINPERSOONSMa": _obj(np.where(form, "-", "")), "RINPERSOONMa": _obj(np.where(form, "---------", "")),
        "XKOPPELNUMMER": _obj(np.full(len(some), " " * 12, dtype=object)),
    })
    gp = grandparent_links(p, rng, exclude=np.char.add(p.rinps[some].astype(str), rin_str[some].astype(str)))
    dirt["kindouder_parents_linked_to_grandparents"] = int(len(gp))
    out = pd.concat([base, extra_conf, extra_dup, nolink, gp], ignore_index=True)
    out = out.sort_values(["RINPERSOONS", "RINPERSOON"], kind="mergesort").reset_index(drop=True)
    return out.astype(object), flags


def grandparent_links(p: Population, rng: np.random.Generator, *, exclude: np.ndarray) -> pd.DataFrame:
    """KINDOUDERTAB rows of parents born 1966 or later, linking them to an older household's members.

    Poor families take their grandparents among the poor older households more often (probability
    0.35 of a poor household, else any), so that poverty runs through three generations; the
    child's own propensity does not depend on it. ``exclude`` holds keys (RINPERSOONS+RINPERSOON)
    that already have a row without links."""
    par = np.concatenate([p.f_mother[p.f_mother >= 0], p.f_father[p.f_father >= 0]])
    par_by = p.birth_month[par] // 12 + 1970
    par = par[(par_by >= 1966) & (p.rinps[par] == "R")]
    par = par[~np.isin(np.char.add(p.rinps[par].astype(str), p.rin_str[par].astype(str)), exclude)]
    par = par[rng.random(len(par)) < 0.8]
    if len(par) == 0 or len(p.h_head) == 0:
        return pd.DataFrame(columns=list(KINDOUDER_FORMATS)).astype(object)
    par_by = p.birth_month[par] // 12 + 1970
    poor_fam = p.f_poor[p.fam[par]]
    heads = p.h_head
    head_by = p.birth_month[heads] // 12 + 1970
    hh = np.arange(len(heads))
    target = par_by - rng.uniform(20, 40, len(par))
    chosen = np.full(len(par), -1, dtype=np.int64)
    for want_poor, who in ((True, poor_fam & (rng.random(len(par)) < 0.35)), (None, None)):
        todo = np.flatnonzero((chosen < 0) if who is None else who)
        pool = hh if want_poor is None else hh[p.h_poor]
        pool = pool[np.argsort(head_by[pool], kind="stable")]
        if len(pool) == 0 or len(todo) == 0:
            continue
        pos = np.searchsorted(head_by[pool], target[todo]) + rng.integers(-20, 21, len(todo))
        pick = pool[np.clip(pos, 0, len(pool) - 1)]
        gap = par_by[todo] - head_by[pick]
        ok = (gap >= 18) & (gap <= 45)
        chosen[todo[ok]] = pick[ok]
    found = chosen >= 0
    par, par_by, chosen = par[found], par_by[found], chosen[found]
    # members of each older household: its head and, in a couple, the second person
    second = np.full(len(heads), -1, dtype=np.int64)
    is_second = np.r_[False, p.o_hh[1:] == p.o_hh[:-1]]
    second[p.o_hh[is_second]] = p.o_person[is_second]
    a, b = heads[chosen], second[chosen]
    a_male = p.sex[a] == "1"
    b_gap = par_by - (p.birth_month[np.maximum(b, 0)] // 12 + 1970)
    b_ok = (b >= 0) & (p.sex[np.maximum(b, 0)] != p.sex[a]) & (b_gap >= 16) & (b_gap <= 50)
    fa = np.where(a_male, a, np.where(b_ok, b, -1))
    mo = np.where(~a_male, a, np.where(b_ok, b, -1))

    def link(who):
        known = who >= 0
        return (np.where(known, p.rinps[np.maximum(who, 0)], "-").astype(object),
                np.where(known, p.rin_str[np.maximum(who, 0)], "---------").astype(object))

    pa_s, pa = link(fa)
    ma_s, ma = link(mo)
    return pd.DataFrame({
        "RINPERSOONS": _obj(p.rinps[par]), "RINPERSOON": _obj(p.rin_str[par]),
        "RINPERSOONSpa": _obj(pa_s), "RINPERSOONpa": _obj(pa), "RINPERSOONSMa": _obj(ma_s),
        "RINPERSOONMa": _obj(ma), "XKOPPELNUMMER": _obj(np.full(len(par), " " * 12, dtype=object)),
    })


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def _write_sav(path: str, df: pd.DataFrame, formats: dict, labels: dict) -> str:
    fmt = {c: f for c, f in formats.items() if c in df.columns}
    lab = {c: dict(v) for c, v in labels.items() if c in df.columns}
    pyreadstat.write_sav(df, path, variable_format=fmt, variable_value_labels=lab or None)
    del df
    _release_memory(setup=True)   # also in the writer processes
    return path


class _Writer:
    """Writes .sav files in worker processes while the main process goes on generating.

    At most ``workers + 1`` tables wait for or are in a worker (the ones the pool has already handed
    on); when the main process gets further ahead it writes the newest waiting table itself, so the
    tables of many years are never held at once (memory stays bounded at any size)."""

    def __init__(self, workers: int):
        self.pool = None
        self.limit = workers + 1
        if workers > 1:
            method = "spawn" if sys.platform == "win32" else "forkserver"
            ctx = multiprocessing.get_context(method)
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        self.jobs: list[Future] = []
        self.args: list[tuple | None] = []
        self.files: list[str] = []

    def _let_go(self) -> int:
        """Let go of the tables already written; the number still pending."""
        pending = 0
        for i, job in enumerate(self.jobs):
            if self.args[i] is None:
                continue
            if job.done():
                job.result()
                self.args[i] = None
            else:
                pending += 1
        return pending

    def submit(self, path: Path, df: pd.DataFrame, formats: dict, labels: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files.append(str(path))
        if self.pool is None:
            _write_sav(str(path), df, formats, labels)
            return
        self.jobs.append(self.pool.submit(_write_sav, str(path), df, formats, labels))
        self.args.append((str(path), df, formats, labels))
        del df
        while self._let_go() > self.limit:
            for i in range(len(self.jobs) - 1, -1, -1):   # the newest table not yet handed on
                if self.args[i] is not None and self.jobs[i].cancel():
                    args, self.args[i] = self.args[i], None
                    _write_sav(*args)
                    del args
                    break
            else:
                wait([j for j, a in zip(self.jobs, self.args) if a is not None], return_when=FIRST_COMPLETED)

    def close(self) -> None:
        """Wait for every file; the main process, done generating, writes the jobs not yet started."""
        if self.pool is None:
            return
        try:
            for job, args in reversed(list(zip(self.jobs, self.args))):
                if args is not None and job.cancel():
                    _write_sav(*args)
            for job in self.jobs:
                if not job.cancelled():
                    job.result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def inha_versions(year: int, first_year: int) -> tuple[int, ...]:
    """Versions of INHA{year}TAB on disk (the highest wins), as observed in Remote Access."""
    if year == first_year:
        return (2, 3)
    if year == first_year + 5:
        return (1, 2)
    return (2,) if year <= 2020 else (1,)


def koppel_versions(year: int) -> tuple[str, ...]:
    """Suffixes of KOPPELPERSOONHUISHOUDEN{year} files on disk (the highest V wins)."""
    return {2019: ("V1", "V2"), 2020: ("V2",)}.get(year, ("",))


def popiiv_missing_year(first_year: int, last_year: int) -> int:
    """The one income year whose INHATAB has no INHPOPIIV column."""
    return first_year + 1 if last_year > first_year else first_year


# ----------------------------------------------------------------------------------------------
# Truth
# ----------------------------------------------------------------------------------------------

TRUTH_README = """# Planted truth of the synthetic Veenkoloniën data

Generated by `python -m pipeline synthesize`; this folder sits beside the raw tree `cbs/`, never in it.

- Every family lives in a buurt. It is poor during childhood with probability `p_parents_poor` of
  the buurt where its oldest child lived at 15; a poor family is below the lage-inkomensgrens in
  each year with probability 0.88, a non-poor one with 0.02.
- A child whose parents are poor is poor as a young adult with the `outflow_propensity` of the buurt
  it lived in on its 15th birthday (the address rule of methodology.md §3 on the winning address
  file); otherwise with `p_child_poor_parents_not_poor`. Poor young adults are below the line in
  each year with probability 0.88, and 0.97 at ages 24-27 (the adult window of methodology §6);
  non-poor ones with 0.06 before 24, 0.003 at 24-27 and 0.02 after. A non-poor child of 24 or older
  still living at home lifts the family's household above the line (an earner in the household), so
  the young adult's measured status is its own planted one.
- Grandparents: parents born 1966 or later (KINDOUDERTAB is reliable from that birth year on) are
  linked to their own parents in KINDOUDERTAB with probability 0.8: a household of older people
  (the heads born 20-40 years earlier), chosen among the poor ones with probability 0.35 when the
  family is poor. The grandparents' poverty does not change the child's propensity: the planted
  `outflow_3gen` equals the outflow of the same buurten.
- Two clusters pass poverty on far more often: `noordoost` (Pekela, Veendam, Wildervank, Winschoten,
  Scheemda and surroundings) and `emmen` (Emmen's central wards, Emmer-Compascuum, Klazienaveen,
  Zwartemeer, Barger-Compascuum). Outside them the propensity is about 0.15, inside about 0.5, with
  smooth spatial noise.
- Income ranks follow a Gaussian copula: a child's latent score = buurt shift (lower in the clusters)
  + 0.2 x the family's score + noise; poor households sit below the line's percentile.
- The values here are the planted (latent) probabilities. The analysis measures poverty from the
  household files with the "poor in at least half of the valid years" rule, so its estimates are
  these probabilities blurred by a little misclassification of the parents (transient poor years in a
  short window) and by sampling noise.

Income years and poverty lines:
- Before 2011 the household files are IHI (`INTEGRAAL HUISHOUDENS INKOMEN/{{year}}/HUISHBVRINK{{year}}TABV{{n}}.sav`,
  key RINPERSOONSKERN/RINPERSOONKERN) with `Koppeltabel_IPI_IHI_IVB{{year}}` (mostly beside IHI; one year
  beside IPI in upper case with V1, one year in a folder of its own with spaces: see summary.json).
  The same households and statuses as the INHATAB years, in IHI's coding, which is assumed here
  because the real one is UNVERIFIED: `BVRLICAT` 1 institutional, 2 income unknown, 3 student
  household, 4 below the lage-inkomensgrens, 5 at or above it, 6 negative income; `BVRLICATL`
  1 institutional, 2 unknown, 3 student or not in the target population in two or more of the three
  years before, 4 below the line for four years or longer, 5 not; `BVRPERCGESTINKH` 0..99 as
  two-character text (INHATAB's INHP100HGEST minus 1), empty when unknown; amounts 999999999 when
  unknown.
- From 2018 `INHARMATAB/INHARMA{{year}}TABV1.sav` holds `INHARMOEDE`, income as % of the new CBS
  poverty line. Planted relation: the new line lies {factor} x the lage-inkomensgrens in euros,
  but a wealth buffer lifts households below it to 100-129 % with probability {lift_owner} for
  owner-occupiers and {lift_other} for others, so the new line finds fewer poor households than
  INHARMLAG (summary.json `new_poverty_line` gives both shares per year among private households
  with income). 998 = not in the target population (students, institutions), 999 = unknown; about
  0.3 % of the households have no row. The key is the household (RINPERSOONSHKW/RINPERSOONHKW),
  except in one year (`person_key_year`), which has a person key (RINPERSOONS/RINPERSOON): CBS's
  key is UNVERIFIED.

Files:
- `buurt_truth.csv`: per buurt of the target-year geography (also outside the region).
  `n_children_planted` / `n_children_parents_poor_planted` count children born {c0}-{c1}
  (the default cohort) who lived there at 15, by latent status.
- `wijk_truth.csv`: per wijk, the propensities averaged over its buurten weighted by those children
  (`outflow_propensity` by children with poor parents, `p_child_poor_parents_not_poor` by the others,
  `p_parents_poor` by all); unweighted where a wijk has none.
- `children_truth.csv`: every child with its key, true birth year and month, the buurt it lived in at
  15 (empty if none), its latent statuses and the dirt planted on it.
- `summary.json`: arguments, counts and every kind of dirt planted, with how often.
"""


def truth_tables(geo: Geography, truth: pd.DataFrame, p: Population, objs: Objects, *, target_year: int,
                 child_flags: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    gm, wc, bc = area_codes(geo, target_year, target_year)
    bu = geo.buurten
    by = p.birth_month[p.c_person] // 12 + 1970
    cohort = (by >= TRUTH_COHORT[0]) & (by <= TRUTH_COHORT[1])
    b15 = p.c_buurt15
    fam_poor = p.f_poor[p.c_fam]
    sel = cohort & (b15 >= 0)
    n_all = np.bincount(b15[sel], minlength=len(bu))
    n_pp = np.bincount(b15[sel & fam_poor], minlength=len(bu))
    bt = pd.DataFrame({
        "buurtcode": _obj(np.char.add("BU", bc.astype(str))),
        "wijkcode": _obj(np.char.add("WK", wc.astype(str))),
        "gemeentecode": _obj(np.char.add("GM", gm.astype(str))),
        "cluster": _obj(bu["cluster"].to_numpy(dtype=object)),
        "p_parents_poor": truth["p_parents_poor"].round(4),
        "outflow_propensity": truth["outflow_propensity"].round(4),
        "p_child_poor_parents_not_poor": truth["p_child_poor_parents_not_poor"].round(4),
        "buurtnaam": _obj(bu["buurtnaam"].to_numpy(dtype=object)),
        "in_region": bu["in_region"].to_numpy(bool),
        "n_children_planted": n_all,
        "n_children_parents_poor_planted": n_pp,
    })

    def wmean(col, w):
        g = pd.DataFrame({"wk": bt["wijkcode"], "v": truth[col].to_numpy(), "w": w})
        num = (g["v"] * g["w"]).groupby(g["wk"], sort=False).sum()
        den = g["w"].groupby(g["wk"], sort=False).sum()
        plain = g["v"].groupby(g["wk"], sort=False).mean()
        return (num / den.where(den > 0)).fillna(plain)

    wk_codes = bt["wijkcode"].drop_duplicates()
    first = bt.drop_duplicates("wijkcode").set_index("wijkcode")
    cl = bt.groupby("wijkcode", sort=False)["cluster"].agg(lambda s: s.mode().iloc[0])
    counts = bt.groupby("wijkcode", sort=False)[["n_children_planted", "n_children_parents_poor_planted"]].sum()
    wt = pd.DataFrame({
        "wijkcode": _obj(wk_codes.to_numpy()),
        "gemeentecode": _obj(first.loc[wk_codes, "gemeentecode"].to_numpy()),
        "cluster": _obj(cl.loc[wk_codes].to_numpy()),
        "outflow_propensity": wmean("outflow_propensity", n_pp).loc[wk_codes].round(4).to_numpy(),
        "p_parents_poor": wmean("p_parents_poor", n_all).loc[wk_codes].round(4).to_numpy(),
        "p_child_poor_parents_not_poor": wmean("p_child_poor_parents_not_poor",
                                               n_all - n_pp).loc[wk_codes].round(4).to_numpy(),
        "n_children_planted": counts["n_children_planted"].loc[wk_codes].to_numpy(),
        "n_children_parents_poor_planted": counts["n_children_parents_poor_planted"].loc[wk_codes].to_numpy(),
    })
    reason = np.full(len(p.c_person), "", dtype=object)
    c = p.c_person
    st = np.where(p.c_obj15 >= 0, objs.status[np.maximum(p.c_obj15, 0)], -1)
    fam = p.c_fam
    problems = [
        (p.rinps[c] == "N", "rinpersoons_N"),
        (p.gba_year[c] == "----", "birth_year_unknown"),
        (p.gba_month[c] == "--", "birth_month_unknown"),
        (child_flags["conflicting_rows"], "kindouder_conflict"),
        (child_flags["duplicate_rows"], "kindouder_duplicate_row"),
        (child_flags["parent_rin_is_child"], "father_rin_is_child"),
        (p.young_father[fam], "father_born_less_than_12_years_before"),
        (p.absent_parent_child, "parent_absent_from_gbapersoontab"),
        ((p.f_father[fam] < 0), "father_unknown"),
        ((p.f_mother[fam] < 0), "mother_unknown"),
        (p.c_obj15 < 0, "no_address_at_15"),
        (st == OBJ_MISSING, "address_missing_from_vslgwb"),
        ((st == OBJ_DASHED) | (st == OBJ_BC_DASHED) | (st == OBJ_EMPTY), "address_code_dashed_or_empty"),
        (st == OBJ_NONBAG, "address_nonbag_not_in_vslgwb"),
    ]
    for mask, name in problems:
        reason = np.where(mask, np.where(reason == "", name, reason + ";" + name), reason)
    buurt15 = np.where(b15 >= 0, np.char.add("BU", bc[np.maximum(b15, 0)].astype(str)), "")
    ct = pd.DataFrame({
        "RINPERSOONS": _obj(p.rinps[c]), "RINPERSOON": _obj(p.rin_str[c]),
        "birth_year": by, "birth_month": p.birth_month[c] % 12 + 1,
        "buurtcode_15": _obj(buurt15.astype(object)),
        "in_region_15": np.where(b15 >= 0, bu["in_region"].to_numpy(bool)[np.maximum(b15, 0)], False),
        "parents_poor_planted": fam_poor.astype(np.int64), "child_poor_planted": p.c_poor.astype(np.int64),
        "planted_dirt": _obj(reason),
    })
    return bt, wt, ct


# ----------------------------------------------------------------------------------------------
# The step
# ----------------------------------------------------------------------------------------------

def _validate(persons: int, first_year: int, last_year: int, target_year: int) -> None:
    if persons < 500:
        raise SynthesizeError(f"--persons must be at least 500, got {persons}")
    if not IHI_FIRST_YEAR <= first_year <= last_year <= 2035:
        raise SynthesizeError(f"need {IHI_FIRST_YEAR} <= first_year <= last_year <= 2035, got {first_year}..{last_year}")
    if not VSLGWB_FIRST_YEAR <= target_year <= 2035:
        raise SynthesizeError(f"target_year must lie in {VSLGWB_FIRST_YEAR}..2035, got {target_year}")


def synthesize(*, out_dir: Path, persons: int = 350_000, seed: int = 20261122, first_year: int = 2011,
               last_year: int = 2023, target_year: int = 2023, workers: int | None = None,
               clusters: bool = True) -> dict:
    """Write the synthetic raw tree, geography and planted truth to `out_dir`, atomically.

    Parameters
    ----------
    out_dir : folder to create (replaced if it exists); built beside it and renamed at the end.
    persons : rows of GBAPERSOONTAB, roughly.
    seed : everything is a function of the arguments: the same arguments give the same files.
    first_year, last_year : income years written (INHATAB and KOPPELPERSOONHUISHOUDEN from 2011, IHI
        and Koppeltabel_IPI_IHI_IVB before; first_year may go down to 2003). The INHATAB years are the
        same whatever first_year is, given the other arguments.
    target_year : the geography year; VSLGWBTAB covers 2015..target_year + 1.
    workers : processes writing .sav files (default: 2 for large runs, 1 below 50,000 persons).
    clusters : plant the two clusters; with False their buurten get the propensities of everywhere
        else (the same random draws otherwise), to check that a hotspot test then finds nothing.

    Returns a small summary dict (also written to truth/summary.json, without the timings).
    """
    _validate(persons, first_year, last_year, target_year)
    _release_memory(setup=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    if workers is None:
        workers = 1 if persons < 50_000 else max(1, min(2, os.cpu_count() or 1))
    writer = _Writer(workers)
    try:
        summary = _synthesize_into(tmp, writer=writer, persons=persons, seed=seed, first_year=first_year,
                                   last_year=last_year, target_year=target_year, timings=timings,
                                   clusters=clusters)
        t = time.perf_counter()
        writer.close()
        timings["wait_for_writers"] = round(time.perf_counter() - t, 2)
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out_dir)
    timings["total"] = round(time.perf_counter() - t0, 2)
    summary["timings_seconds"] = timings
    summary["workers"] = workers
    log.info("synthetic data written to %s in %.1f s (%d workers)", out_dir, timings["total"], workers)
    log.info("persons %d (families %d, children %d, of whom %d born %d-%d), files %d",
             summary["counts"]["persons"], summary["counts"]["families"], summary["counts"]["children"],
             summary["counts"]["children_default_cohort"], TRUTH_COHORT[0], TRUTH_COHORT[1], len(summary["files"]))
    log.info("dirt planted: %s", ", ".join(f"{k}={v}" for k, v in summary["dirt"].items()))
    log.info("timings (s): %s", ", ".join(f"{k}={v}" for k, v in timings.items()))
    return summary


def _synthesize_into(root: Path, *, writer: _Writer, persons: int, seed: int, first_year: int, last_year: int,
                     target_year: int, timings: dict, clusters: bool = True) -> dict:
    cbs, geo_dir, truth_dir = root / "cbs", root / "geo", root / "truth"
    for d in (cbs, geo_dir, truth_dir):
        d.mkdir(parents=True)
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 2)
        clock[0] = now
        _release_memory()

    # geography and planted truth
    geo = build_geography(seed=seed)
    if not clusters:
        geo = without_clusters(geo)
    truth = plant_buurt_truth(geo, seed=seed)
    gemeenten, wijken, buurten = geography_layers(geo, target_year)
    gpkg = geo_dir / f"wijkenbuurten_{target_year}_synthetisch.gpkg"
    for layer, gdf in (("gemeenten", gemeenten), ("wijken", wijken), ("buurten", buurten)):
        gdf.to_file(gpkg, layer=layer, driver="GPKG", engine="pyogrio")
    lap("geography")

    # addresses and VSLGWBTAB
    objs = build_objects(geo, persons=persons, seed=seed)
    edition = target_year + 1
    vsl = vslgwb_table(geo, objs, edition=edition, target_year=target_year)
    writer.submit(cbs / "BouwenWonen/VSLGWBTAB" / f"VSLGWB{edition}TAB03V1.sav", vsl, vslgwb_formats(vsl),
                  {"SOORTOBJECTNUMMER": SOORT_LABELS})
    del vsl
    lap("vslgwbtab")

    # population, addresses, latent status
    p = generate_population(geo, truth, objs, persons=persons, seed=seed, last_year=last_year)
    dirt: dict[str, int] = dict(p.dirt)
    dirt.update(plant_identity_dirt(p, seed=seed))
    p.fix_identifiers()
    spells, sp_dirt = build_spells(p, last_year=last_year, seed=seed)
    dirt.update(sp_dirt)
    assign_latent_status(p, objs, spells, seed=seed)
    lap("population")

    # parents: a father born less than 12 years before his child, parents absent from GBAPERSOONTAB
    rng = np.random.default_rng([seed, 54])
    n_f = len(p.f_start)
    young_fam = _choose(rng, np.flatnonzero(p.f_father >= 0), _n_dirt(n_f, 0.0005, minimum=3))
    p.young_father = np.zeros(n_f, dtype=bool)
    p.young_father[young_fam] = True
    fathers = p.f_father[young_fam]
    first_child_month = pd.Series(p.birth_month[p.c_person]).groupby(p.c_fam).min()
    p.birth_month[fathers] = first_child_month.reindex(young_fam).to_numpy(np.int64) - 12 * 6
    dirt["father_born_less_than_12_years_before_child"] = int(len(young_fam))
    absent_f = _choose(rng, p.f_father[p.f_father >= 0], _n_dirt(n_f, 0.003, minimum=3))
    absent_m = _choose(rng, p.f_mother[p.f_mother >= 0], _n_dirt(n_f, 0.001, minimum=2))
    absent = np.union1d(absent_f, absent_m)
    p.absent_parent_child = np.isin(p.f_father[p.c_fam], absent) | np.isin(p.f_mother[p.c_fam], absent)
    dirt["parents_absent_from_gbapersoontab"] = int(len(absent))
    dirt["children_with_parent_absent_from_gbapersoontab"] = int(p.absent_parent_child.sum())

    # GBAPERSOONTAB: the winner (newest edition, highest version) and two losers
    gba = gba_table(p, seed=seed, dirt=dirt, drop=absent)
    ed_new, ed_old = last_year, last_year - 1
    writer.submit(cbs / f"Bevolking/GBAPERSOONTAB/{ed_new}/GBAPERSOON{ed_new}TABV2.sav", gba, GBA_FORMATS, GBA_LABELS)
    rng_l = np.random.default_rng([seed, 55])
    core_cols = ["RINPERSOONS", "RINPERSOON", "GBAGEBOORTELAND", "GBAGESLACHT", "GBAHERKOMSTGROEPERING",
                 "GBAGENERATIE", "GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND", "GBAGEBOORTEDAG"]
    v1 = gba[core_cols].copy()
    yrs = v1["GBAGEBOORTEJAAR"].to_numpy(dtype=object).copy()
    known = np.flatnonzero(yrs != "----")
    hit = _choose(rng_l, known, _n_dirt(len(v1), 0.02))
    yrs[hit] = (yrs[hit].astype(np.int64) + rng_l.choice([-1, 1], size=len(hit))).astype("U4").astype(object)
    v1["GBAGEBOORTEJAAR"] = _obj(yrs)
    writer.submit(cbs / f"Bevolking/GBAPERSOONTAB/{ed_new}/GBAPERSOON{ed_new}TABV1.sav", v1, GBA_FORMATS, GBA_LABELS)
    old = gba[core_cols].iloc[np.sort(rng_l.permutation(len(gba))[: int(len(gba) * 0.97)])].reset_index(drop=True)
    writer.submit(cbs / f"Bevolking/GBAPERSOONTAB/{ed_old}/GBAPERSOON{ed_old}TABV1.sav", old, GBA_FORMATS, GBA_LABELS)
    dirt["loser_gba_v1_birth_year_shifted"] = int(len(hit))
    dirt["loser_gba_old_edition_persons_dropped"] = int(len(gba) - len(old))
    del v1, old, gba, yrs, known, hit
    # what only GBAPERSOONTAB needed
    p.land = p.land_mother = p.land_father = p.herkomst = p.generation = p.parents_abroad = None
    _release_memory()

    # KINDOUDERTAB
    ko, child_flags = kindouder_table(p, seed=seed, dirt=dirt)
    writer.submit(cbs / f"Bevolking/KINDOUDERTAB/KINDOUDER{ed_new}TABV1.sav", ko, KINDOUDER_FORMATS, KINDOUDER_LABELS)
    ko_old = ko.iloc[np.sort(rng_l.permutation(len(ko))[: int(len(ko) * 0.96)])].reset_index(drop=True)
    blank = rng_l.random(len(ko_old)) < 0.02
    pa_s = ko_old["RINPERSOONSpa"].to_numpy(dtype=object).copy()
    pa = ko_old["RINPERSOONpa"].to_numpy(dtype=object).copy()
    pa_s[blank], pa[blank] = "-", "---------"
    ko_old["RINPERSOONSpa"], ko_old["RINPERSOONpa"] = _obj(pa_s), _obj(pa)
    writer.submit(cbs / f"Bevolking/KINDOUDERTAB/KINDOUDER{ed_old}TABV1.sav", ko_old, KINDOUDER_FORMATS,
                  KINDOUDER_LABELS)
    del ko, ko_old, pa_s, pa, blank
    lap("gbapersoontab_kindoudertab")

    # GBAADRESOBJECTBUS: V2 wins, V1 puts 8% of the persons at other addresses
    adres = adres_table(p, objs, spells, last_year=last_year, seed=seed)
    writer.submit(cbs / f"Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT{ed_new}BUSV2.sav", adres, ADRES_FORMATS,
                  ADRES_LABELS)
    pers = spells["person"].to_numpy()
    moved = rng_l.random(len(p.role)) < 0.08
    sp_l = spells.copy()
    hit = moved[pers]
    elsewhere = rng_l.integers(0, len(geo.buurten), size=int(hit.sum()))
    sp_l.loc[hit, "obj"] = pick_objects(objs, elsewhere, rng_l, p_nonbag=0)
    adres_l = adres_table(p, objs, sp_l, last_year=last_year, seed=seed)
    writer.submit(cbs / f"Bevolking/GBAADRESOBJECTBUS/GBAADRESOBJECT{ed_new}BUSV1.sav", adres_l, ADRES_FORMATS,
                  ADRES_LABELS)
    n_spells = len(adres)
    open_forms = adres["GBADATUMEINDEADRESHOUDING"].value_counts().to_dict()
    del adres, adres_l, sp_l, spells, pers, moved, hit, elsewhere
    objs.rin_str = None   # RINOBJECTNUMMER strings: only VSLGWBTAB and GBAADRESOBJECTBUS
    lap("gbaadresobjectbus")

    # households per year
    units = build_units(p, seed=seed)
    # INHATAB from 2011; the years before are written as IHI. Versions and dirt of the INHATAB years
    # hang on the first INHATAB year, so adding IHI years leaves the INHATAB years as they were.
    first_inha = max(first_year, IHI_LAST_YEAR + 1)
    miss_year = popiiv_missing_year(first_inha, last_year)
    iv = {y: inha_versions(y, first_inha) if y > IHI_LAST_YEAR else ihi_versions(y, first_year)
          for y in range(first_year, last_year + 1)}
    kv = {y: koppel_versions(y) for y in range(first_year, last_year + 1)}
    inc = cbs / "InkomenBestedingen"
    n_hh = {}
    new_line = {}
    person_key_year = min(max(INHARMA_FIRST_YEAR, first_inha) + 3, last_year)
    for yo in household_years(p, units, first_year=first_year, last_year=last_year, seed=seed,
                              popiiv_missing_year=miss_year, inha_versions=iv, koppel_versions=kv, dirt=dirt):
        y = yo.year
        versions = iv[y]
        n_hh[y] = len(yo.inha)
        if y <= IHI_LAST_YEAR:
            folder = inc / "INTEGRAAL HUISHOUDENS INKOMEN" / str(y)
            writer.submit(folder / f"HUISHBVRINK{y}TABV{versions[-1]}.sav", ihi_table(yo.inha, yo.popiiv),
                          IHI_FORMATS, IHI_LABELS)
            if len(versions) > 1:
                writer.submit(folder / f"HUISHBVRINK{y}TABV{versions[0]}.sav", ihi_table(yo.inha_loser, yo.popiiv),
                              IHI_FORMATS, IHI_LABELS)
            writer.submit(ivb_path(inc, y, first_year), ivb_table(yo.koppel), IVB_FORMATS, IVB_LABELS)
            continue
        if y >= INHARMA_FIRST_YEAR:
            harm, new_line[y] = inharma_table(yo.inha, yo.popiiv, yo.koppel, year=y, seed=seed,
                                              person_key=(y == person_key_year))
            writer.submit(inc / "INHARMATAB" / f"INHARMA{y}TABV1.sav", harm, INHARMA_FORMATS, INHARMA_LABELS)
        writer.submit(inc / "INHATAB" / f"INHA{y}TABV{versions[-1]}.sav", yo.inha, INHA_FORMATS, INHA_LABELS)
        if yo.inha_loser is not None:
            writer.submit(inc / "INHATAB" / f"INHA{y}TABV{versions[0]}.sav", yo.inha_loser, INHA_FORMATS, INHA_LABELS)
        suffixes = kv[y]
        writer.submit(inc / "KOPPELPERSOONHUISHOUDEN" / f"KOPPELPERSOONHUISHOUDEN{y}{suffixes[-1]}.sav", yo.koppel,
                      KOPPEL_FORMATS, KOPPEL_LABELS)
        if yo.koppel_loser is not None:
            writer.submit(inc / "KOPPELPERSOONHUISHOUDEN" / f"KOPPELPERSOONHUISHOUDEN{y}{suffixes[0]}.sav",
                          yo.koppel_loser, KOPPEL_FORMATS, KOPPEL_LABELS)
    lap("households")

    # truth
    bt, wt, ct = truth_tables(geo, truth, p, objs, target_year=target_year, child_flags=child_flags)
    bt.to_csv(truth_dir / "buurt_truth.csv", index=False)
    wt.to_csv(truth_dir / "wijk_truth.csv", index=False)
    ct.to_csv(truth_dir / "children_truth.csv", index=False)
    (truth_dir / "README.md").write_text(TRUTH_README.format(
        c0=TRUTH_COHORT[0], c1=TRUTH_COHORT[1], factor=NEW_LINE_FACTOR, lift_owner=BUFFER_LIFT_OWNER,
        lift_other=BUFFER_LIFT_OTHER), encoding="utf-8")
    dirt.update({
        "vslgwb_objects_missing": int((objs.status == OBJ_MISSING).sum()),
        "vslgwb_objects_all_codes_dashed": int((objs.status == OBJ_DASHED).sum()),
        "vslgwb_objects_target_bc_dashed": int((objs.status == OBJ_BC_DASHED).sum()),
        "vslgwb_objects_target_wc_bc_empty": int((objs.status == OBJ_EMPTY).sum()),
        "nonbag_objects_not_in_vslgwb": int((objs.status == OBJ_NONBAG).sum()),
        "nonbag_objects_sharing_rinobjectnummer_with_bag": int(objs.shared_rin),
        "inhatab_year_without_inhpopiiv": int(miss_year),
        "loser_inhatab_rows_changed_share": 0.15,
        "children_moved_between_buurten_age_12_17": int(_moves_in_window(p, objs)),
    })
    by = p.birth_month[p.c_person] // 12 + 1970
    in_cohort = (by >= TRUTH_COHORT[0]) & (by <= TRUTH_COHORT[1])
    files = sorted(str(Path(f).relative_to(root)).replace(os.sep, "/") for f in writer.files)
    summary = {
        "generator": "pipeline.synthesize",
        "persons_argument": persons, "seed": seed, "first_year": first_year, "last_year": last_year,
        "clusters": bool((geo.buurten["cluster"] != "").any()),
        "target_year": target_year, "vslgwb_edition": edition, "gba_edition": ed_new,
        "counts": {
            "persons": int(len(p.role) - len(absent)),
            "families": int(n_f),
            "children": int(len(p.c_person)),
            "children_default_cohort": int(in_cohort.sum()),
            "children_default_cohort_in_region_at_15": int((ct["in_region_15"].to_numpy() & in_cohort).sum()),
            "partners": int(len(p.p_person)),
            "others": int(len(p.o_person)),
            "address_spells": int(n_spells),
            "address_objects": int(len(objs.rin)),
            "gemeenten": int(len(gemeenten)), "wijken": int(len(wijken)), "buurten": int(len(buurten)),
            "wijken_in_region": int(wijken["gemeentecode"].str[2:].isin(CORE_GEMEENTEN).sum()),
            "buurten_in_region": int(buurten["gemeentecode"].str[2:].isin(CORE_GEMEENTEN).sum()),
            "households_per_year": {str(k): int(v) for k, v in n_hh.items()},
            "open_end_forms": {k if k else "(empty)": int(v) for k, v in open_forms.items()
                               if not (k.isdigit() and k < "20500101" and k != f"{last_year}1231")},
        },
        "conventions": {
            "SOORTOBJECTNUMMER": SOORT_LABELS,
            "RINOBJECTNUMMER": "16 characters, zero-padded digits",
            "open_end_forms": dict(zip(OPEN_END_FORMS, OPEN_END_P)),
            "inhatab_versions": {str(y): list(v) for y, v in iv.items() if len(v) > 1 and y > IHI_LAST_YEAR},
            "ihi_versions": {str(y): list(v) for y, v in iv.items() if len(v) > 1 and y <= IHI_LAST_YEAR},
            "ihi_koppeltabel_paths": {str(y): str(ivb_path(Path("cbs/InkomenBestedingen"), y, first_year).as_posix())
                                      for y in range(first_year, min(last_year, IHI_LAST_YEAR) + 1)},
            "bvrlicat_codes": LICAT_LABELS, "bvrlicatl_codes": LICATL_LABELS,
            "bvrpercgestinkh": "0..99 as two-character text, empty when unknown",
            "inharmoede_codes": INHARMOEDE_LABELS,
            "koppel_suffixes": {str(y): list(v) for y, v in kv.items() if v != ("",)},
            "renumbered_after_target_year": f"GM{RENUMBERED_GEMEENTE}: buurt numbers + {RENUMBER_OFFSET}",
        },
        "files": files,
        "dirt": dirt,
        "new_poverty_line": {
            "new_line_factor": NEW_LINE_FACTOR, "buffer_lift_owner": BUFFER_LIFT_OWNER,
            "buffer_lift_other": BUFFER_LIFT_OTHER, "person_key_year": person_key_year if new_line else None,
            "years": {str(k): v for k, v in new_line.items()},
        },
    }
    (truth_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    lap("truth")
    return summary


def _moves_in_window(p: Population, objs: Objects) -> int:
    """Children whose family moved to another buurt between their 12th and 18th birthday."""
    bm = p.birth_month[p.c_person]
    a, b = _month_to_day(bm + 144), _month_to_day(bm + 216)
    mv = p.f_move[p.c_fam]
    other = objs.buurt[np.maximum(p.f_obj1[p.c_fam], 0)] != objs.buurt[p.f_obj0[p.c_fam]]
    return int(((mv >= a) & (mv < b) & other & (p.f_obj1[p.c_fam] >= 0)).sum())


def adres_table(p: Population, objs: Objects, spells: pd.DataFrame, *, last_year: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 32])
    person = spells["person"].to_numpy()
    obj = spells["obj"].to_numpy()
    start = spells["start"].to_numpy()
    stop = spells["stop"].to_numpy()
    open_ = stop >= NEVER
    end_str = _ymd_strings(np.where(open_, 0, stop - 1))
    forms = np.array([f"{last_year}1231" if f == "FILE_END" else f for f in OPEN_END_FORMS], dtype=object)
    end_str[open_] = forms[rng.choice(len(forms), size=int(open_.sum()), p=OPEN_END_P)]
    order = np.lexsort((start, p.rin[person], p.rinps_code[person]))
    person, obj = person[order], obj[order]
    return _frame({
        "RINPERSOONS": p.rinps[person], "RINPERSOON": p.rin_str[person],
        "GBADATUMAANVANGADRESHOUDING": _ymd_strings(start[order]), "GBADATUMEINDEADRESHOUDING": end_str[order],
        "SOORTOBJECTNUMMER": objs.soort[obj], "RINOBJECTNUMMER": objs.rin_str[obj],
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline synthesize",
                                     description="Write synthetic CBS microdata, geography and planted truth.")
    parser.add_argument("--out", required=True, type=Path, help="output folder (cbs/, geo/, truth/)")
    parser.add_argument("--persons", type=int, default=350_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--first-year", type=int, default=2011)
    parser.add_argument("--last-year", type=int, default=2023)
    parser.add_argument("--target-year", type=int, default=2023)
    parser.add_argument("--workers", type=int, default=None, help="processes writing .sav files")
    parser.add_argument("--no-clusters", dest="clusters", action="store_false",
                        help="plant no clusters: their buurten get the propensities of everywhere else")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        synthesize(out_dir=args.out, persons=args.persons, seed=args.seed, first_year=args.first_year,
                   last_year=args.last_year, target_year=args.target_year, workers=args.workers,
                   clusters=args.clusters)
    except SynthesizeError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
