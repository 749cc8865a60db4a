"""Reads ttlog-view's Parquet datasets with Spark, DuckDB and polars and
compares their answers with ttlog-view's own (see scripts/interop-check).

usage: interop_check.py VIEW WORKDIR FLEET_DIR ODD_NAMES_DIR
"""

import csv
import datetime
import io
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import time

VIEW, WORK, FLEET, ODD = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
ROOT = pathlib.Path(__file__).resolve().parent.parent


def view(*args):
    """Runs ttlog-view, returns its standard output."""
    done = subprocess.run([VIEW, *args], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"interop-check: ttlog-view {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        sys.exit(1)
    return done.stdout


def micros(rfc3339):
    """Microseconds since the epoch of an RFC 3339 UTC time with up to 9
    fractional digits (rounded down, as the Parquet timestamp is)."""
    whole, _, frac = rfc3339.rstrip("Z").partition(".")
    t = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    seconds = int(t.timestamp())
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return seconds * 1_000_000 + nanos // 1000


def expected(inputs, field):
    """ttlog-view's answers: rows, (first, last) in µs, {target: (count, p99)}."""
    stats = json.loads(view(*inputs, "--stats", "--format", "json"))
    groups = {}
    for row in csv.DictReader(io.StringIO(view(*inputs, "--group-by", "target", "--agg", f"count,p99:{field}", "--format", "csv"))):
        p99 = row[f"p99_{field}"]
        groups[row["target"]] = (int(row["count"]), float(p99) if p99 else None)
    return stats["events"], (micros(stats["first"]), micros(stats["last"])), groups


def same_p99(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def duckdb_answers(ds, column):
    import duckdb

    con = duckdb.connect()
    src = f"read_parquet('{ds}/**/*.parquet', hive_partitioning = true)"
    rows, first, last = con.execute(f"SELECT count(*), epoch_us(min(timestamp)), epoch_us(max(timestamp)) FROM {src}").fetchone()
    groups = {t: (n, p) for t, n, p in con.execute(f"SELECT target, count(*), quantile_cont({column}, 0.99) FROM {src} GROUP BY target").fetchall()}
    return rows, (first, last), groups


def polars_answers(ds, column):
    import polars as pl

    lf = pl.scan_parquet(f"{ds}/**/*.parquet", hive_partitioning=True)
    span = lf.select(
        pl.len().alias("n"),
        pl.col("timestamp").min().dt.epoch("us").alias("first"),
        pl.col("timestamp").max().dt.epoch("us").alias("last"),
    ).collect()
    by = lf.group_by("target").agg(pl.len().alias("n"), pl.col(column).quantile(0.99, interpolation="linear").alias("p99")).collect()
    groups = {r["target"]: (r["n"], r["p99"]) for r in by.iter_rows(named=True)}
    return span["n"][0], (span["first"][0], span["last"][0]), groups


SPARK = None
SHOW = os.environ.get("INTEROP_SHOW") == "1"


def spark_answers(ds, column):
    global SPARK
    if SPARK is None:
        from pyspark.sql import SparkSession

        SPARK = (
            SparkSession.builder.master("local[2]")
            .appName("ttlog-interop-check")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        SPARK.sparkContext.setLogLevel("ERROR")
    df = SPARK.read.parquet(str(ds))  # partition discovery: service=…/date=…
    df.createOrReplaceTempView("events")
    n, first, last = SPARK.sql("SELECT count(*), unix_micros(min(timestamp)), unix_micros(max(timestamp)) FROM events").first()
    groups = {
        r[0]: (r[1], r[2])
        for r in SPARK.sql(f"SELECT target, count(*), percentile(`{column}`, 0.99) FROM events GROUP BY target").collect()
    }
    return n, (first, last), groups


def check(name, inputs, field):
    ds = WORK / "parquet" / name
    shutil.rmtree(ds, ignore_errors=True)
    started = time.monotonic()
    view(*inputs, "--format", "parquet", "--partition-by", "service,date", "-o", str(ds))
    took = time.monotonic() - started
    size = sum(f.stat().st_size for f in ds.rglob("*.parquet"))
    files = len(list(ds.rglob("*.parquet")))
    want = expected(inputs, field)
    print(f"{name}: {want[0]} events exported in {took:.2f} s, {files} files, {size / 1e6:.1f} MB")
    inside = ds.resolve()
    for f in ds.rglob("*"):
        if not f.resolve().is_relative_to(inside) or f.is_symlink():
            print(f"  partition path outside the dataset: {f}")
            return False
    column = "field_" + field
    ok = True
    answers = {}
    for engine, answer in (("duckdb", duckdb_answers), ("polars", polars_answers), ("spark", spark_answers)):
        started = time.monotonic()
        try:
            got = answer(ds, column)
        except Exception as e:  # an engine that cannot read the dataset
            print(f"  {engine}: FAILED to read: {str(e).splitlines()[0]}")
            ok = False
            continue
        took = time.monotonic() - started
        problems = []
        if got[0] != want[0]:
            problems.append(f"rows {got[0]} != {want[0]}")
        if tuple(got[1]) != want[1]:
            problems.append(f"time range {got[1]} != {want[1]}")
        if set(got[2]) != set(want[2]):
            problems.append(f"targets {sorted(got[2])} != {sorted(want[2])}")
        for t, (n, p) in want[2].items():
            g = got[2].get(t)
            if g is not None and (g[0] != n or not same_p99(g[1], p)):
                problems.append(f"{t}: count, p99 {g} != {(n, p)}")
        answers[engine] = got
        verdict = "agrees" if not problems else "DISAGREES: " + "; ".join(problems)
        print(f"  {engine}: {took:.2f} s, {got[0]} rows, {len(got[2])} targets: {verdict}")
        ok &= not problems
    if SHOW:
        show(want, answers, column)
    return ok


def show(want, answers, column):
    """Each engine's answers beside ttlog-view's (INTEROP_SHOW=1)."""
    engines = [e for e in ("duckdb", "polars", "spark") if e in answers]
    print(f"    {'':16} {'ttlog-view':>28} " + " ".join(f"{e:>28}" for e in engines))
    print(f"    {'first, last (µs)':16} {want[1][0]:>28} " + " ".join(f"{answers[e][1][0]:>28}" for e in engines))
    print(f"    {'':16} {want[1][1]:>28} " + " ".join(f"{answers[e][1][1]:>28}" for e in engines))
    for t in sorted(want[2]):
        cell = lambda a: "-" if a is None else f"{a[0]} / {a[1]}"
        print(f"    {t[:16]:16} {cell(want[2][t]):>28} " + " ".join(f"{cell(answers[e][2].get(t)):>28}" for e in engines))
    print(f"    (count / p99 of {column} by target)")


testdata = sorted(str(p) for p in (ROOT / "testdata").glob("*.bin"))
ok = check("testdata", testdata, "qty")
ok &= check("fleet-1m", [str(FLEET)], "latency_us")
ok &= check("odd-names", [str(ODD)], "latency_us")
print("  partitions: " + ", ".join(sorted(p.name for p in (WORK / "parquet" / "odd-names").iterdir())))
if SPARK is not None:
    SPARK.stop()
print("interop-check: " + ("every engine agrees with ttlog-view" if ok else "FAILED"))
sys.exit(0 if ok else 1)
