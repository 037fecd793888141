"""How fast `remediate cases import` and `remediate config validate` run, each beside its floor.

    python bench/import_and_validate.py [--rows 50000] [--megabytes 5]

Import: a CSV of ROWS cases (a third each on-site assessment, plan, monitoring with a child's
identity) into a fresh SQLite store, against a floor of the bare csv parse plus one executemany
of the same rows into a table of as many text columns. Validate: a programme file of MEGABYTES
(the garment example with thousands of sites), against a floor of the bare libyaml load
(yaml.CSafeLoader). Targets (issue 15): 5,000 rows/s; a 5 MB programme under 5 s.
A benchmark, not a test: it prints figures and ratios, the last line as key=value pairs.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = (
    "legacy_reference,enterprise_id,site_id,notified_on,source,state,outcome,age_years,assessed_on,"
    "effective_on,visits_done,full_name,birth_date"
)


def sheet(rows: int) -> str:
    """A CSV of ``rows`` good cases, three kinds in turn."""
    lines = [HEADER]
    for number in range(rows):
        kind = number % 3
        if kind == 0:
            lines.append(
                f"L-{number},northwind-apparel,dhaka-knit-01,2026-03-02,audit,monitoring,child_labourer,13,"
                f"2026-03-04,2026-04-01,2,Child {number},2013-01-09"
            )
        elif kind == 1:
            lines.append(
                f"L-{number},campos-del-pacifico,sinaloa-culiacan,2026-10-01,grievance_channel,"
                "remediation_plan,child_labourer,12,2026-10-03,,,,"
            )
        else:
            lines.append(
                f"L-{number},northwind-apparel,hcmc-sew-02,2026-11-20,brand,on_site_assessment,,,,,,,"
            )
    return "\n".join(lines) + "\n"


def programme_text(megabytes: float) -> str:
    """The garment example with as many extra sites as make it ``megabytes`` long."""
    example = (ROOT / "examples" / "garment_brand.yaml").read_text(encoding="utf-8")
    sites, number, size = [], 0, len(example)
    while size < megabytes * 1_000_000:
        country, zone = ("BD", "Asia/Dhaka") if number % 2 else ("VN", "Asia/Ho_Chi_Minh")
        site = (
            f"  - id: site-{number:06d}\n    name: Work unit {number}\n    kind: factory\n"
            f"    country: {country}\n    time_zone: {zone}\n    closure_days:\n"
            f'      - {{from: "2027-02-05", to: "2027-02-12", reason: Shutdown {number}}}\n'
        )
        sites.append(site)
        size += len(site)
        number += 1
    return example.replace("sites:\n", "sites:\n" + "".join(sites), 1)


#: CPU seconds of this process per timed piece of work: on a machine others load, the wall clock
#: counts their work too; the import and the validation run in this process alone (SQLite in-process),
#: so their CPU time is close to what they take on an idle machine.
CPU: dict[str, float] = {}


def timed(work, name: str = ""):  # type: ignore[no-untyped-def]
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    if name:
        CPU[name] = time.process_time() - cpu
    return time.perf_counter() - started, result


def import_figures(rows: int, folder: Path) -> tuple[float, float]:
    from remediation_flows.core.config import load_programme_file
    from remediation_flows.core.intake import import_cases
    from remediation_flows.core.store import CaseStore, upgrade_schema

    path = folder / "cases.csv"
    path.write_text(sheet(rows), encoding="utf-8")
    url = f"sqlite:///{folder / 'cases.db'}"
    upgrade_schema(url)
    store = CaseStore(url)
    programmes = [
        load_programme_file(ROOT / "examples" / name)
        for name in ("garment_brand.yaml", "mexican_agro_exporter.yaml")
    ]
    seconds, references = timed(lambda: import_cases(store, path, "bench", register=programmes), "import")
    assert len(references) == rows
    store.dispose()

    def floor() -> None:
        records = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        connection = sqlite3.connect(folder / "floor.db")
        columns = ", ".join(f"c{i} TEXT" for i in range(len(records[0])))
        connection.execute(f"CREATE TABLE cases ({columns})")
        marks = ", ".join("?" * len(records[0]))
        connection.executemany(f"INSERT INTO cases VALUES ({marks})", records[1:])
        connection.commit()
        connection.close()

    floor_seconds, _ = timed(floor)
    return seconds, floor_seconds


def validate_figures(megabytes: float, folder: Path) -> tuple[float, float]:
    import yaml

    from remediation_flows.core.config import load_programme_file

    path = folder / "programme.yaml"
    text = programme_text(megabytes)
    path.write_text(text, encoding="utf-8")
    seconds, programme = timed(lambda: load_programme_file(path), "validate")
    assert len(programme.sites) > 1000
    floor_seconds, _ = timed(lambda: yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
    return seconds, floor_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--megabytes", type=float, default=5.0)
    args = parser.parse_args()
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as name:
        folder = Path(name)
        imported, import_floor = import_figures(args.rows, folder)
        validated, validate_floor = validate_figures(args.megabytes, folder)
    rate = args.rows / imported
    print(
        f"import {args.rows:,} rows: {imported:.2f} s ({rate:,.0f} rows/s; {CPU['import']:.2f} s of CPU, "
        f"{args.rows / CPU['import']:,.0f} rows per CPU second); floor (csv parse + one executemany): "
        f"{import_floor:.2f} s; ratio {imported / import_floor:.1f}x; target 5,000 rows/s"
    )
    print(
        f"validate a {args.megabytes:g} MB programme: {validated:.2f} s ({CPU['validate']:.2f} s of CPU); "
        f"floor (bare yaml.CSafeLoader): {validate_floor:.2f} s; ratio {validated / validate_floor:.1f}x; "
        "target under 5 s"
    )
    load_end = os.getloadavg()
    print(f"load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    print(
        f"rows={args.rows} import_s={imported:.2f} import_rows_per_s={rate:.0f} "
        f"import_cpu_s={CPU['import']:.2f} import_rows_per_cpu_s={args.rows / CPU['import']:.0f} "
        f"import_floor_s={import_floor:.2f} import_ratio={imported / import_floor:.1f} "
        f"megabytes={args.megabytes:g} validate_s={validated:.2f} validate_cpu_s={CPU['validate']:.2f} "
        f"validate_floor_s={validate_floor:.2f} "
        f"validate_ratio={validated / validate_floor:.1f} "
        f"load_start={load_start[0]:.2f} load_end={load_end[0]:.2f}"
    )


if __name__ == "__main__":
    main()
