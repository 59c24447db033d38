# Overerfbare armoede in de Veenkoloniën: from CBS Remote Access files to released tables and maps.
# Every step is `python -m pipeline <step>`; this file only wires them. See README.md.
import json
import os
import shlex
import sys

from snakemake.utils import min_version, validate

min_version("8.20")

configfile: os.path.join(workflow.basedir, "config", "config.yaml")
validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"))

sys.path.insert(0, workflow.basedir)
# Steps run `python -m pipeline` in the working directory (--directory): let them import this
# checkout's package, not another copy installed in the environment (an editable install of
# another checkout would otherwise win).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [workflow.basedir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != workflow.basedir])
from pipeline.io import discover, newest, pick_per_key  # noqa: E402

# ----------------------------------------------------------------------------- helpers
PY = sys.executable
RAW = config["raw_root"]
SYN = config["synthetic"]
GEO = config["geography"]
Y = GEO["target_year"]
P = "data/processed"
T = "reports/tables"
LEVELS = ["buurt", "wijk", "gemeente", "region"]
REGION = config["region"]["gemeenten"]
REGION_NAME = config["region"]["name"]
# Outputs of later rules that `all` should build too; rules defined further down append to it.
EXTRA_TARGETS = []


def raw_ready():
    """With synthetic data on, the raw tree exists only after the synthesize checkpoint."""
    if SYN["enabled"]:
        checkpoints.synthesize.get()


def raw_table(table):
    raw_ready()
    spec = config["files"][table]
    return str(newest(discover(RAW, dirs=spec["dirs"], pattern=spec["pattern"]), table=table,
                      where=f"{RAW}/{'|'.join(spec['dirs'])}"))


def yearly(table):
    spec = config["files"].get(table)
    if spec is None:
        return {}
    return pick_per_key(discover(RAW, dirs=spec["dirs"], pattern=spec["pattern"]))


def inhatab_years():
    return set(yearly("income")) & set(yearly("koppel"))


def ihi_years():
    """Years with an IHI file and its Koppeltabel_IPI_IHI_IVB; where INHATAB exists too, INHATAB wins."""
    return (set(yearly("ihi")) & set(yearly("ihi_koppel"))) - inhatab_years()


def income_years():
    """Income years with INHATAB + KOPPELPERSOONHUISHOUDEN or IHI + Koppeltabel_IPI_IHI_IVB files
    (or those configured)."""
    raw_ready()
    on_disk = sorted(inhatab_years() | ihi_years())
    wanted = config.get("income_years")
    if wanted:
        missing = sorted(set(wanted) - set(on_disk))
        if missing:
            raise ValueError(f"income years {missing} configured but neither INHATAB/KOPPELPERSOONHUISHOUDEN nor "
                             f"IHI/Koppeltabel_IPI_IHI_IVB files for them are under {RAW}")
        return sorted(wanted)
    if not on_disk:
        raise ValueError(f"no income year has INHATAB and KOPPELPERSOONHUISHOUDEN (or IHI and "
                         f"Koppeltabel_IPI_IHI_IVB) files under {RAW}")
    return on_disk


def year_tables(wildcards):
    """The raw files of one income year that household reads: INHATAB + KOPPELPERSOONHUISHOUDEN, or
    IHI + Koppeltabel_IPI_IHI_IVB; INHARMATAB where the year has one. One ingest_year job reads them
    all (a job per file paid a process start and Snakemake's own work per job for little)."""
    raw_ready()
    y = int(wildcards.year)
    if y in inhatab_years():
        names = ["income", "koppel"]
    elif y in ihi_years():
        names = ["ihi", "ihi_koppel"]
    else:
        raise ValueError(f"income year {y}: neither INHATAB/KOPPELPERSOONHUISHOUDEN nor IHI/Koppeltabel_IPI_IHI_IVB "
                         f"files under {RAW}")
    if y in yearly("inharma"):
        names.append("inharma")
    return {t: str(yearly(t)[y]) for t in names}


def year_table_args(wildcards, input):
    """--table/--source/--out of each file of the year, into the year's folder."""
    return " ".join(f"--table {t} --source {shlex.quote(str(input[t]))} --out {P}/ingest/{wildcards.year}/{t}.parquet"
                    for t in input.keys() if t != "code")


def year_folder(wildcards):
    """The folder ingest_year writes; the raw tree must exist first (household_args reads it)."""
    raw_ready()
    return f"{P}/ingest/{wildcards.year}"


def household_args(wildcards):
    """Command-line options for the household step: the year's Parquet files, and the BVRLICAT(L)
    codes in IHI years only (so that changing them reruns only those years)."""
    d = f"{P}/ingest/{wildcards.year}"
    args = " ".join(f"--{t.replace('_', '-')} {d}/{t}.parquet" for t in year_tables(wildcards))
    if int(wildcards.year) in ihi_years():
        ihi = config["ihi"]
        args += (f" --licat-below {' '.join(map(str, ihi['licat_below']))}"
                 f" --licatl-below {' '.join(map(str, ihi['licatl_below']))}"
                 f" --licat-missing {' '.join(map(str, ihi['licat_missing']))}")
    return args


def person_years(wildcards):
    return [f"{P}/household/person_year_{y}.parquet" for y in income_years()]


def attrition_files(wildcards):
    return ([f"{P}/household/attrition_{y}.csv" for y in income_years()]
            + [f"{P}/cohort/attrition.csv", f"{P}/upbringing/attrition.csv", f"{P}/status/attrition.csv",
               f"{P}/young_adults/attrition.csv"])


def boundaries(wildcards):
    raw_ready()
    return GEO["boundaries"]


def src(step):
    return workflow.source_path(f"pipeline/{step}.py")


wildcard_constraints:
    table="persons|parents|addresses|areas",
    year=r"\d{4}",


# ----------------------------------------------------------------------------- rules
# priority: the four tables and the steps that need only them (cohort, upbringing,
# young_adults_places) go first, beside the income years' ingest and household jobs, so that
# after the last household only the steps that read every income year remain.
rule all:
    input:
        expand(f"{T}/transmission_{{level}}.csv", level=LEVELS),
        expand(f"{T}/young_adults_{{level}}.csv", level=["gemeente", "wijk", "region"]),
        f"{T}/attrition.csv",
        "reports/output_check.json",
        expand("figures/outflow_{level}.{ext}", level=["buurt", "wijk", "gemeente"], ext=["png", "pdf"]),
        "figures/outflow_kaart.html",
        lambda wildcards: EXTRA_TARGETS,


if SYN["enabled"]:

    checkpoint synthesize:
        input:
            code=src("synthesize"),
        output:
            directory(SYN["out_dir"]),
        params:
            persons=SYN.get("persons", 350000),
            seed=SYN.get("seed", 1),
            first=SYN.get("first_year", 2011),
            last=SYN.get("last_year", 2023),
            target=Y,
        log:
            "logs/synthesize.log",
        benchmark:
            "benchmarks/synthesize.tsv"
        shell:
            "{PY:q} -m pipeline synthesize --out {output:q} --persons {params.persons} --seed {params.seed}"
            " --first-year {params.first} --last-year {params.last} --target-year {params.target} 2> {log:q}"


rule ingest:
    input:
        source=lambda wc: raw_table(wc.table),
        code=src("ingest"),
    output:
        f"{P}/ingest/{{table}}.parquet",
    params:
        target_year=Y,
    priority: 10
    log:
        "logs/ingest_{table}.log",
    benchmark:
        "benchmarks/ingest_{table}.tsv"
    shell:
        "{PY:q} -m pipeline ingest --table {wildcards.table} --source {input.source:q} --out {output:q}"
        " --target-year {params.target_year} 2> {log:q}"


rule ingest_year:
    input:
        unpack(year_tables),
        code=src("ingest"),
    output:
        directory(f"{P}/ingest/{{year}}"),
    params:
        args=year_table_args,
    log:
        "logs/ingest_year_{year}.log",
    benchmark:
        "benchmarks/ingest_year_{year}.tsv"
    shell:
        "{PY:q} -m pipeline ingest {params.args} 2> {log:q}"


rule household:
    input:
        year=year_folder,
        # The year's raw files, not read here: the Slurm profile sizes a job by its input, and a
        # folder has no size. They change only together with the folder's Parquet files.
        raw=lambda wildcards: list(year_tables(wildcards).values()),
        code=src("household"),
    output:
        person_year=f"{P}/household/person_year_{{year}}.parquet",
        attrition=f"{P}/household/attrition_{{year}}.csv",
    params:
        args=household_args,
    log:
        "logs/household_{year}.log",
    benchmark:
        "benchmarks/household_{year}.tsv"
    shell:
        "{PY:q} -m pipeline household {params.args} --year {wildcards.year}"
        " --out {output.person_year:q} --attrition {output.attrition:q} 2> {log:q}"


rule cohort:
    input:
        persons=f"{P}/ingest/persons.parquet",
        parents=f"{P}/ingest/parents.parquet",
        code=src("cohort"),
    output:
        children=f"{P}/cohort/children.parquet",
        attrition=f"{P}/cohort/attrition.csv",
    params:
        years=config["cohort"]["birth_years"],
        both="--require-both-parents" if config["cohort"]["require_both_parents"] else "",
        gap=config["cohort"]["min_parent_age_gap"],
    priority: 10
    log:
        "logs/cohort.log",
    benchmark:
        "benchmarks/cohort.tsv"
    shell:
        "{PY:q} -m pipeline cohort --persons {input.persons:q} --parents {input.parents:q}"
        " --birth-years {params.years[0]} {params.years[1]} {params.both} --min-parent-age-gap {params.gap}"
        " --out {output.children:q} --attrition {output.attrition:q} 2> {log:q}"


rule upbringing:
    input:
        children=f"{P}/cohort/children.parquet",
        addresses=f"{P}/ingest/addresses.parquet",
        areas=f"{P}/ingest/areas.parquet",
        code=src("upbringing"),
    output:
        children=f"{P}/upbringing/children_area.parquet",
        attrition=f"{P}/upbringing/attrition.csv",
    params:
        region=REGION,
        age=config["upbringing"]["reference_age"],
    priority: 10
    log:
        "logs/upbringing.log",
    benchmark:
        "benchmarks/upbringing.tsv"
    shell:
        "{PY:q} -m pipeline upbringing --children {input.children:q} --addresses {input.addresses:q}"
        " --areas {input.areas:q} --region {params.region} --reference-age {params.age}"
        " --out {output.children:q} --attrition {output.attrition:q} 2> {log:q}"


rule family_years:
    input:
        children=f"{P}/upbringing/children_area.parquet",
        person_years=person_years,
        code=src("family_years"),
    output:
        f"{P}/status/family_years.parquet",
    log:
        "logs/family_years.log",
    benchmark:
        "benchmarks/family_years.tsv"
    shell:
        "{PY:q} -m pipeline family_years --children {input.children:q} --person-years {input.person_years:q}"
        " --out {output:q} 2> {log:q}"


rule status:
    input:
        children=f"{P}/upbringing/children_area.parquet",
        family_years=f"{P}/status/family_years.parquet",
        code=src("status"),
    output:
        statuses=f"{P}/status/statuses.parquet",
        attrition=f"{P}/status/attrition.csv",
    params:
        w=config["windows"],
    log:
        "logs/status.log",
    benchmark:
        "benchmarks/status.tsv"
    shell:
        "{PY:q} -m pipeline status --children {input.children:q} --family-years {input.family_years:q}"
        " --parents-ages {params.w[parents_ages][0]} {params.w[parents_ages][1]}"
        " --parents-min-valid-years {params.w[parents_min_valid_years]}"
        " --child-ages {params.w[child_ages][0]} {params.w[child_ages][1]}"
        " --child-min-valid-years {params.w[child_min_valid_years]} --poor-share {params.w[poor_share]}"
        " --out {output.statuses:q} --attrition {output.attrition:q} 2> {log:q}"


rule measures:
    input:
        statuses=f"{P}/status/statuses.parquet",
        code=src("measures"),
    output:
        expand(f"{P}/measures/measures_{{level}}.parquet", level=LEVELS),
    params:
        region_name=REGION_NAME,
        out_dir=f"{P}/measures",
    log:
        "logs/measures.log",
    benchmark:
        "benchmarks/measures.tsv"
    shell:
        "{PY:q} -m pipeline measures --statuses {input.statuses:q} --region-name {params.region_name:q}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


def income_years_known(wildcards):
    """No input: makes a job wait for the raw tree (synthesize checkpoint), so that its params may
    list the income years."""
    raw_ready()
    return []


YA = f"{P}/young_adults"
YA_PLACES = f"{YA}/places"


rule young_adults_places:
    input:
        persons=f"{P}/ingest/persons.parquet",
        parents=f"{P}/ingest/parents.parquet",
        addresses=f"{P}/ingest/addresses.parquet",
        areas=f"{P}/ingest/areas.parquet",
        years=income_years_known,
        code=[src("young_adults_places"), src("young_adults")],
    output:
        directory(YA_PLACES),
    params:
        years=lambda wildcards: " ".join(map(str, income_years())),
        ages=config["young_adults"]["ages"],
        gap=config["cohort"]["min_parent_age_gap"],
        region=REGION,
    priority: 10
    log:
        "logs/young_adults_places.log",
    benchmark:
        "benchmarks/young_adults_places.tsv"
    shell:
        "{PY:q} -m pipeline young_adults_places --persons {input.persons:q} --parents {input.parents:q}"
        " --addresses {input.addresses:q} --areas {input.areas:q} --years {params.years}"
        " --ages {params.ages[0]} {params.ages[1]} --min-parent-age-gap {params.gap}"
        " --region {params.region} --out-dir {output:q} 2> {log:q}"


rule young_adults_year:
    input:
        places=YA_PLACES,
        person_year=f"{P}/household/person_year_{{year}}.parquet",
        code=[src("young_adults_year"), src("young_adults")],
    output:
        flags=f"{YA}/years/flags_{{year}}.parquet",
        attrition=f"{YA}/years/attrition_{{year}}.csv",
    params:
        ages=config["young_adults"]["ages"],
    log:
        "logs/young_adults_year_{year}.log",
    benchmark:
        "benchmarks/young_adults_year_{year}.tsv"
    shell:
        "{PY:q} -m pipeline young_adults_year --places-dir {input.places:q} --year {wildcards.year}"
        " --person-year {input.person_year:q} --ages {params.ages[0]} {params.ages[1]}"
        " --out {output.flags:q} --attrition {output.attrition:q} 2> {log:q}"


def young_adult_years(wildcards):
    return {"flags": [f"{YA}/years/flags_{y}.parquet" for y in income_years()],
            "year_attrition": [f"{YA}/years/attrition_{y}.csv" for y in income_years()]}


rule young_adults:
    input:
        unpack(young_adult_years),
        places=YA_PLACES,
        code=src("young_adults"),
    output:
        expand(f"{YA}/young_adults_{{level}}.parquet", level=["gemeente", "wijk", "region"]),
        f"{YA}/young_adults_persons.parquet",
        attrition=f"{YA}/attrition.csv",
    params:
        region_name=REGION_NAME,
    log:
        "logs/young_adults.log",
    benchmark:
        "benchmarks/young_adults.tsv"
    shell:
        "{PY:q} -m pipeline young_adults --places-dir {input.places:q} --flags {input.flags:q}"
        " --year-attrition {input.year_attrition:q} --region-name {params.region_name:q} --out-dir {YA}"
        " --attrition {output.attrition:q} 2> {log:q}"


rule geography:
    input:
        boundaries=boundaries,
        code=src("geography"),
    output:
        f"{P}/geography/areas.parquet",
    params:
        layers=json.dumps(GEO["layers"]),
        columns=json.dumps(GEO["columns"]),
        region=REGION,
    log:
        "logs/geography.log",
    benchmark:
        "benchmarks/geography.tsv"
    shell:
        "{PY:q} -m pipeline geography --boundaries {input.boundaries:q} --layers {params.layers:q}"
        " --columns {params.columns:q} --region {params.region} --out {output:q} 2> {log:q}"


YA_TABLES = expand(f"{T}/young_adults_{{level}}.csv", level=["gemeente", "wijk", "region"])


rule export_young_adults:
    input:
        young_adults=expand(f"{P}/young_adults/young_adults_{{level}}.parquet", level=["gemeente", "wijk", "region"]),
        persons=f"{P}/young_adults/young_adults_persons.parquet",
        areas=f"{P}/geography/areas.parquet",
        code=[src("export"), src("disclosure"), src("export_young_adults")],
    output:
        YA_TABLES,
        cells=f"{P}/export/young_adults_cells.parquet",
    params:
        d=config["disclosure"],
        rounding=config["disclosure"]["round_counts_to"] or 0,
        region_name=REGION_NAME,
    log:
        "logs/export_young_adults.log",
    benchmark:
        "benchmarks/export_young_adults.tsv"
    shell:
        "{PY:q} -m pipeline export_young_adults --young-adults-dir {P}/young_adults --areas {input.areas:q}"
        " --region-name {params.region_name:q} --min-n {params.d[min_n]} --min-events {params.d[min_events]}"
        " --min-df {params.d[min_df]} --round-counts-to {params.rounding} --tables-dir {T}"
        " --cells {output.cells:q} 2> {log:q}"


rule export:
    input:
        measures=expand(f"{P}/measures/measures_{{level}}.parquet", level=LEVELS),
        young_adults=YA_TABLES,
        young_adults_cells=f"{P}/export/young_adults_cells.parquet",
        areas=f"{P}/geography/areas.parquet",
        attrition=attrition_files,
        code=[src("export"), src("disclosure")],
    output:
        expand(f"{T}/transmission_{{level}}.csv", level=LEVELS),
        f"{T}/attrition.csv",
        check_json="reports/output_check.json",
        check_md="reports/output_check.md",
        check_internal=f"{P}/export/output_check_cells.parquet",
    params:
        figures=lambda wildcards: figure_sources(),
        d=config["disclosure"],
        rounding=config["disclosure"]["round_counts_to"] or 0,
        region_name=REGION_NAME,
        synthetic="--synthetic" if SYN["enabled"] else "",
        ya_files=" ".join(f"tables/young_adults_{lv}.csv" for lv in ["gemeente", "wijk", "region"]),
    log:
        "logs/export.log",
    benchmark:
        "benchmarks/export.tsv"
    shell:
        "{PY:q} -m pipeline export --measures-dir {P}/measures --young-adults-cells {input.young_adults_cells:q}"
        " --young-adults-files {params.ya_files}"
        " --areas {input.areas:q} --attrition {input.attrition:q} --region-name {params.region_name:q}"
        " --min-n {params.d[min_n]} --min-events {params.d[min_events]} --min-df {params.d[min_df]}"
        " --round-counts-to {params.rounding} {params.synthetic} --tables-dir {T} --figures {params.figures:q}"
        " --check-json {output.check_json:q} --check-md {output.check_md:q}"
        " --check-internal {output.check_internal:q} 2> {log:q}"


MAPS = config["maps"]
MAP_LEVELS = MAPS["levels"]
HOT = MAPS["hotspots"]
HOT_ANALYSES = [a.split(":") for a in HOT["analyses"]]
HOT_LEVELS = sorted({a[0] for a in HOT_ANALYSES}, key=["buurt", "wijk", "gemeente"].index)
SHEET = MAPS["factsheets"]
SHEET_NAMES = REGION + ["regio"]
MAP_CATEGORY = {"buurt": "Kaarten per buurt", "wijk": "Kaarten per wijk", "gemeente": "Kaarten per gemeente"}


def map_figure(measure, level, ext):
    path = f"figures/{measure}_{level}.{ext}"
    if ext != "png":
        return path
    caption = f"report/kaart_{measure.removesuffix('_eb')}.rst"
    if not os.path.exists(os.path.join(workflow.basedir, caption)):
        caption = "report/kaart.rst"
    return report(path, caption=caption,
                  category=MAP_CATEGORY[level], labels={"maat": measure, "niveau": level})


rule maps:
    input:
        tables=expand(f"{T}/transmission_{{level}}.csv", level=LEVELS),
        check="reports/output_check.json",
        areas=f"{P}/geography/areas.parquet",
        code=src("maps"),
    output:
        [map_figure(m, lv, ext) for m in MAPS["measures"] for lv in MAP_LEVELS for ext in ("png", "pdf")],
        report("figures/kaart.html", caption="report/kaart_html.rst", category="Interactieve kaart"),
        "figures/outflow_kaart.html",
    params:
        synthetic="--synthetic" if SYN["enabled"] else "--no-synthetic",
        measures=MAPS["measures"],
        levels=MAP_LEVELS,
        scheme=MAPS["scheme"],
        k=MAPS["k"],
        low=MAPS["low_reliability"],
        dpi=MAPS["dpi"],
    log:
        "logs/maps.log",
    benchmark:
        "benchmarks/maps.tsv"
    shell:
        "{PY:q} -m pipeline maps --areas {input.areas:q} --tables-dir {T} --out-dir figures"
        " --measures {params.measures} --levels {params.levels} --html-all kaart.html --html-each outflow"
        " --scheme {params.scheme:q} --k {params.k} --low-reliability {params.low} --dpi {params.dpi}"
        " {params.synthetic} 2> {log:q}"


# ----------------------------------------------------------------------------- hotspots and fact sheets
# Both read only the released tables (reports/tables) and the area geometries.

rule hotspots:
    input:
        tables=expand(f"{T}/transmission_{{level}}.csv", level=HOT_LEVELS),
        check="reports/output_check.json",
        areas=f"{P}/geography/areas.parquet",
        code=[src("hotspots"), src("maps")],
    output:
        tables=[report(f"{T}/hotspots_{lv}.csv", caption="report/hotspots_tabel.rst", category="Hotspots",
                       labels={"niveau": lv, "soort": "tabel"}) for lv in HOT_LEVELS],
        summary=report(f"{T}/hotspots_summary.csv", caption="report/hotspots_samenvatting.rst",
                       category="Hotspots", labels={"niveau": "alle", "soort": "samenvatting"}),
        figures=[report(f"figures/hotspots_{lv}_{m}.png", caption="report/hotspots_kaart.rst", category="Hotspots",
                        labels={"niveau": lv, "soort": f"kaart {m}"}) for lv, m, _ in HOT_ANALYSES]
        + [f"figures/hotspots_{lv}_{m}.pdf" for lv, m, _ in HOT_ANALYSES],
    params:
        analyses=HOT["analyses"],
        permutations=HOT["permutations"],
        seed=HOT["seed"],
        fdr=HOT["fdr"],
        share=HOT["min_released_share"],
        dpi=MAPS["dpi"],
        synthetic="--synthetic" if SYN["enabled"] else "--no-synthetic",
    log:
        "logs/hotspots.log",
    benchmark:
        "benchmarks/hotspots.tsv"
    shell:
        "{PY:q} -m pipeline hotspots --areas {input.areas:q} --tables-dir {T} --analysis {params.analyses}"
        " --permutations {params.permutations} --seed {params.seed} --fdr {params.fdr}"
        " --min-released-share {params.share} --dpi {params.dpi} --tables-out {T} --figures-out figures"
        " {params.synthetic} 2> {log:q}"


if SYN["enabled"]:

    rule hotspots_truth:
        # Synthetic data only: the released hotspots against the planted clusters; stays inside.
        input:
            tables=rules.hotspots.output.tables,
            summary=rules.hotspots.output.summary,
            truth=SYN["out_dir"],
            areas=f"{P}/geography/areas.parquet",
            code=[src("hotspots_truth"), src("hotspots")],
        output:
            f"{P}/hotspots/truth_check.json",
        log:
            "logs/hotspots_truth.log",
        benchmark:
            "benchmarks/hotspots_truth.tsv"
        shell:
            "{PY:q} -m pipeline hotspots_truth --areas {input.areas:q} --tables-dir {T}"
            " --truth-dir {input.truth:q}/truth --out {output:q} 2> {log:q}"

    EXTRA_TARGETS += rules.hotspots_truth.output


rule factsheets:
    input:
        tables=expand(f"{T}/transmission_{{level}}.csv", level=LEVELS),
        young_adults=expand(f"{T}/young_adults_{{level}}.csv", level=["gemeente", "region"]),
        check="reports/output_check.json",
        areas=f"{P}/geography/areas.parquet",
        code=[src("factsheet"), src("maps"), workflow.source_path("pipeline/templates/factsheet.html.j2")],
    output:
        html=[report(f"reports/factsheets/feitenblad_{g}.html", caption="report/feitenblad.rst",
                     category="Feitenbladen", labels={"gebied": g, "formaat": "HTML"}) for g in SHEET_NAMES],
        pdf=[report(f"reports/factsheets/feitenblad_{g}.pdf", caption="report/feitenblad.rst",
                    category="Feitenbladen", labels={"gebied": g, "formaat": "PDF"}) for g in SHEET_NAMES],
    params:
        region=REGION,
        region_name=REGION_NAME,
        measure=SHEET["map_measure"],
        level=SHEET["map_level"],
        benchmarks=json.dumps(SHEET["benchmarks"], ensure_ascii=False),
        cohort=config["cohort"]["birth_years"],
        child_ages=config["windows"]["child_ages"],
        young_ages=config["young_adults"]["ages"],
        synthetic="--synthetic" if SYN["enabled"] else "--no-synthetic",
    log:
        "logs/factsheets.log",
    benchmark:
        "benchmarks/factsheets.tsv"
    shell:
        "{PY:q} -m pipeline factsheet --areas {input.areas:q} --tables-dir {T} --out-dir reports/factsheets"
        " --region-name {params.region_name:q} --gemeenten {params.region} --map-measure {params.measure}"
        " --map-level {params.level} --benchmarks {params.benchmarks:q}"
        " --cohort {params.cohort[0]} {params.cohort[1]} --child-ages {params.child_ages[0]} {params.child_ages[1]}"
        " --young-ages {params.young_ages[0]} {params.young_ages[1]} {params.synthetic} 2> {log:q}"


# ----------------------------------------------------------------------------- rolling cohorts and trends
# Issue #6: every birth cohort that fits the income years on disk (and rolling pools), released in
# order so that published numbers stand when a year is added; trend tables and charts from them.
TREND = config["trend"]
TREND_LEVELS = ["gemeente", "wijk", "region"]
ROLLING = [f"{P}/rolling/{f}.parquet" for f in ["units", "statuses", "young_adults_line_persons"]
           + [f"measures_{lv}" for lv in TREND_LEVELS] + [f"young_adults_line_{lv}" for lv in TREND_LEVELS]] \
          + [f"{P}/rolling/attrition.csv"]


rule rolling:
    input:
        persons=f"{P}/ingest/persons.parquet",
        parents=f"{P}/ingest/parents.parquet",
        addresses=f"{P}/ingest/addresses.parquet",
        areas=f"{P}/ingest/areas.parquet",
        person_years=person_years,
        young_adults=f"{P}/young_adults/young_adults_persons.parquet",
        code=[src("rolling"), src("status"), src("cohort"), src("upbringing"), src("measures")],
    output:
        ROLLING,
    params:
        w=config["windows"],
        both="--require-both-parents" if config["cohort"]["require_both_parents"] else "",
        gap=config["cohort"]["min_parent_age_gap"],
        age=config["upbringing"]["reference_age"],
        pools=TREND["pool_sizes"],
        region=REGION,
        region_name=REGION_NAME,
    log:
        "logs/rolling.log",
    benchmark:
        "benchmarks/rolling.tsv"
    shell:
        "{PY:q} -m pipeline rolling --persons {input.persons:q} --parents {input.parents:q}"
        " --addresses {input.addresses:q} --areas {input.areas:q} --person-years {input.person_years:q}"
        " --young-adults {input.young_adults:q} --region {params.region} --region-name {params.region_name:q}"
        " {params.both} --min-parent-age-gap {params.gap} --reference-age {params.age}"
        " --parents-ages {params.w[parents_ages][0]} {params.w[parents_ages][1]}"
        " --parents-min-valid-years {params.w[parents_min_valid_years]}"
        " --child-ages {params.w[child_ages][0]} {params.w[child_ages][1]}"
        " --child-min-valid-years {params.w[child_min_valid_years]} --poor-share {params.w[poor_share]}"
        " --pool-sizes {params.pools} --out-dir {P}/rolling 2> {log:q}"


rule trend:
    input:
        rolling=ROLLING,
        areas=f"{P}/geography/areas.parquet",
        transmission=expand(f"{T}/transmission_{{level}}.csv", level=["gemeente", "wijk", "region"]),
        young_adults=expand(f"{T}/young_adults_{{level}}.csv", level=["gemeente", "wijk", "region"]),
        code=[src("trend"), src("disclosure"), src("export")],
    output:
        expand(f"{T}/cohorts_{{level}}.csv", level=TREND_LEVELS),
        expand(f"{T}/young_adults_line_{{level}}.csv", level=TREND_LEVELS),
        check_json="reports/output_check_trend.json",
        check_md="reports/output_check_trend.md",
    params:
        d=config["disclosure"],
        rounding=config["disclosure"]["round_counts_to"] or 0,
        pooled=config["cohort"]["birth_years"],
        region_name=REGION_NAME,
        synthetic="--synthetic" if SYN["enabled"] else "",
    log:
        "logs/trend.log",
    benchmark:
        "benchmarks/trend.tsv"
    shell:
        "{PY:q} -m pipeline trend --rolling-dir {P}/rolling --areas {input.areas:q} --transmission-dir {T}"
        " --pooled-birth-years {params.pooled[0]} {params.pooled[1]} --region-name {params.region_name:q}"
        " --min-n {params.d[min_n]} --min-events {params.d[min_events]} --min-df {params.d[min_df]}"
        " --round-counts-to {params.rounding} {params.synthetic} --tables-dir {T}"
        " --check-json {output.check_json:q} --check-md {output.check_md:q} 2> {log:q}"


rule trend_charts:
    input:
        tables=expand(f"{T}/{{name}}_{{level}}.csv", name=["cohorts", "young_adults", "young_adults_line"],
                      level=["gemeente", "region"]),
        code=[src("trend_charts"), src("maps")],
    output:
        tables=expand(f"{T}/trend_{{level}}.csv", level=["gemeente", "region"]),
        figures=[report(f"figures/trend_{g}.png", caption="report/trend.rst", category="Trends",
                        labels={"gebied": g}) for g in SHEET_NAMES],
    params:
        region=REGION,
        region_name=REGION_NAME,
        synthetic="--synthetic" if SYN["enabled"] else "",
    log:
        "logs/trend_charts.log",
    benchmark:
        "benchmarks/trend_charts.tsv"
    shell:
        "{PY:q} -m pipeline trend_charts --tables-dir {T} --gemeenten {params.region}"
        " --region-name {params.region_name:q} --figures-dir figures {params.synthetic} 2> {log:q}"


EXTRA_TARGETS += rules.trend.output
EXTRA_TARGETS += rules.trend_charts.output
EXTRA_TARGETS += rules.maps.output
EXTRA_TARGETS += rules.hotspots.output
EXTRA_TARGETS += rules.factsheets.output


# ----------------------------------------------------------------------------- audit and export bundle
# The audit runs last on every run: it needs every file the run releases. The bundle zips exactly
# what the audit passed. Both come after all other rules, so EXTRA_TARGETS is complete when the
# input functions below run.
AUDIT = ["reports/audit.json", "reports/audit.md"]
BUNDLE = "export/veenkolonien_export.zip"
PUBLIC_INPUTS = [f"{P}/geography/areas.parquet"]  # the boundary file: public, no microdata


def _released(path):
    return str(path).startswith(("reports/", "figures/")) and str(path) not in AUDIT


def released_files(wildcards=None):
    """Every file of this run under reports/ or figures/: the targets of `all` and the fixed outputs
    of any rule there, except the audit's own."""
    targets = [str(f) for f in workflow.get_rule("all").input if isinstance(f, str)] + [str(f) for f in EXTRA_TARGETS]
    for r in workflow.rules:
        if r.name not in ("audit", "bundle"):
            targets += [str(o) for o in r.output if not r.wildcard_names and _released(o)]
    return sorted({f for f in targets if _released(f)})


def _rule_inputs(r, wcs):
    """The files a rule reads for one output, as declared (input functions are called)."""
    from types import SimpleNamespace

    out = []

    def add(item):
        if isinstance(item, str):
            f = expand(item, **{k: [v] for k, v in wcs.items()})[0] if wcs else str(item)
            # Source files come through Snakemake's cache, under a folder named anew on every run.
            if "source-cache" in f and workflow.basedir.strip("/") in f:
                f = workflow.basedir + f.split(workflow.basedir.strip("/"), 1)[1]
            out.append(f)
        elif callable(item):
            try:
                add(item(SimpleNamespace(**wcs)))
            except Exception as exc:
                if type(exc).__name__ == "IncompleteCheckpointException":
                    raise
                out.append(f"<input function of rule {r.name} not resolvable: {exc}>")
        elif isinstance(item, (list, tuple)):
            for x in item:
                add(x)
        else:
            out.append(str(item))

    for item in r.input:
        add(item)
    return out


def provenance_map():
    """For every released file that export (or export_young_adults) does not write: the files its
    rule reads."""
    out = {}
    for f in released_files():
        for r in workflow.rules:
            if r.name not in ("all", "audit", "bundle", "export", "export_young_adults") and r.is_producer(f):
                out[f] = _rule_inputs(r, r.get_wildcards(f))
                break
    return out


def provenance(wildcards=None):
    return json.dumps(provenance_map(), sort_keys=True)


def figure_sources():
    """For the output check: each released figure (or page) and the released tables it shows."""
    out = {f: sorted(x for x in srcs if _released(x)) for f, srcs in provenance_map().items()}
    return json.dumps(out, sort_keys=True)


rule audit:
    input:
        released=released_files,
        measures=expand(f"{P}/measures/measures_{{level}}.parquet", level=LEVELS),
        young_adults=expand(f"{P}/young_adults/young_adults_{{level}}.parquet", level=["gemeente", "wijk", "region"]),
        persons=f"{P}/young_adults/young_adults_persons.parquet",
        statuses=f"{P}/status/statuses.parquet",
        rolling=ROLLING,
        attrition=attrition_files,
        public=PUBLIC_INPUTS,
        code=src("audit"),
    output:
        json=AUDIT[0],
        md=AUDIT[1],
    params:
        d=config["disclosure"],
        rounding=config["disclosure"]["round_counts_to"] or 0,
        region_name=REGION_NAME,
        provenance=provenance,
        pooled=config["cohort"]["birth_years"],
        code_dir=os.path.join(workflow.basedir, "pipeline"),
    log:
        "logs/audit.log",
    benchmark:
        "benchmarks/audit.tsv"
    shell:
        "{PY:q} -m pipeline audit --measures-dir {P}/measures --young-adults-dir {P}/young_adults"
        " --statuses {input.statuses:q} --rolling-dir {P}/rolling --pooled-birth-years {params.pooled[0]} {params.pooled[1]}"
        " --attrition {input.attrition:q} --region-name {params.region_name:q} --min-n {params.d[min_n]} --min-events {params.d[min_events]} --min-df {params.d[min_df]}"
        " --round-counts-to {params.rounding} --provenance {params.provenance:q} --public {input.public:q}"
        " --code-dir {params.code_dir:q} --out-json {output.json:q} --out-md {output.md:q} 2> {log:q}"


rule bundle:
    input:
        audit=AUDIT,
        released=released_files,
        code=src("bundle"),
    output:
        BUNDLE,
    log:
        "logs/bundle.log",
    benchmark:
        "benchmarks/bundle.tsv"
    shell:
        "{PY:q} -m pipeline bundle --audit {input.audit:q} --out {output:q} 2> {log:q}"


EXTRA_TARGETS += AUDIT + [BUNDLE]
