#!/usr/bin/python3
"""bench.py: issue 8's side-by-side table in one command (`make bench`).

Runs ../shared/bench/dnsbench.py once per cluster size (1k, 10k, 100k
services by default) with holdfast (one worker, pinned to CPU 0 like every
other server), holdfast with two workers (`taskset -c 0,1` inside the
harness's `taskset -c 0`: CPU 1 is shared with the client, so this is the
"client on the same machine" scaling figure) and the reference servers
(echo, nsd, knot, gdnsd, unbound, bind9: those installed), all through the
same client.  The client is tests/bench/qblast_lat.c, dnsbench's qblast
plus a latency histogram, swapped in through dnsbench's own build hook, so
the table gains p50/p99 latency.  Prints one table per size with qps,
p50/p99, CPU ms per 1k answers, PSS, answer-check mismatches (must be 0)
and the ratio to Knot and to the echo ceiling; the whole data goes to
--json.  Figures, not pass/fail; exit status 1 only if holdfast's answers
differ from NSD's or a server failed to run.
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_SERVERS = "echo,nsd,knot,gdnsd,unbound,bind9"


def find_dnsbench(explicit):
    for d in ([explicit] if explicit else []) + [ROOT.parent / "shared" / "bench",
                                                   Path("/work/shared/bench")]:
        if d and (Path(d) / "dnsbench.py").exists():
            return Path(d)
    sys.exit("bench.py: dnsbench.py not found (set BENCH_DIR or --dnsbench)")


def load_dnsbench(path):
    sys.dont_write_bytecode = True  # no __pycache__ in the shared folder
    sys.path.insert(0, str(path))
    import dnsbench  # noqa: E402  (the harness, Python standard library only)
    orig_build = dnsbench.build_c

    def build_c(work, name):
        if name != "qblast":
            return orig_build(work, name)
        binary = Path(work) / "qblast_lat"
        if not binary.exists():
            subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "qblast_lat.c")],
                           check=True)
        return str(binary)

    dnsbench.build_c = build_c
    dnsbench.DNSPERF_RE["lat_p50"] = r"Latency percentiles \(s\):\s+p50 ([\d.]+)"
    dnsbench.DNSPERF_RE["lat_p99"] = r"Latency percentiles \(s\):.*p99 ([\d.]+)"
    dnsbench.DNSPERF_RE["lat_p999"] = r"Latency percentiles \(s\):.*p999 ([\d.]+)"
    return dnsbench


def run_size(dnsbench, args, size, outdir):
    hf = str(Path(args.holdfast).resolve())
    cmd = f"{hf} -conf {{corefile}} -dns.port {{port}}"
    argv = ["dnsbench.py", "--servers", args.servers,
            "--server-cmd", f"holdfast={cmd}",
            "--ref", "knot", "--client", "qblast", "--runs", str(args.runs),
            "--duration", str(args.duration), "--warmup", str(args.warmup),
            "--services", str(size), "--json", str(outdir / f"dnsbench-{size}.json"),
            "--ready-timeout", "180"]  # BIND and Unbound load 800k records at 100k
    if args.two_workers:
        argv += ["--server-cmd", f"holdfast-2w=taskset -c 0,1 {cmd}"]
    log_path = outdir / f"dnsbench-{size}.txt"
    print(f"[bench] {size} services: dnsbench {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    saved = sys.argv
    sys.argv = argv
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            dnsbench.main()
    except SystemExit as e:
        rc = e.code
    else:
        rc = 0
    finally:
        sys.argv = saved
        log_path.write_text(buf.getvalue())
    path = outdir / f"dnsbench-{size}.json"
    if not path.exists():
        print(f"[bench] {size}: dnsbench wrote no JSON (exit {rc}); see {log_path}",
              file=sys.stderr)
        return None
    return json.loads(path.read_text())


def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(v) if v else None


def rows_for(blob):
    runs = blob["runs"]
    out = []
    for row in blob["summary"]:
        name = row["server"]
        mine = [r for r in runs if r["server"] == name and "error" not in r]
        r = {"server": name, "error": row.get("error")}
        if not row.get("error"):
            chk = row.get("check") or {}
            bad = chk.get("mismatched_max")
            if bad is None:
                bad = "n/a" if row.get("answers") == "n/a" else "-"
            if row.get("answers") == "FAIL" and bad == 0:
                bad = "sanity"
            r.update(qps=row["qps"], p50=med(mine, "lat_p50"), p99=med(mine, "lat_p99"),
                     avg=row.get("lat_avg_ms"), cpu=row.get("cpu_ms_1kq"),
                     pss=row.get("pss_mib"), ready=row.get("ready_s"),
                     srv=row.get("srv_core"), cli=row.get("cli_core"),
                     lost=row.get("lost_pct"), mismatches=bad, answers=row.get("answers"),
                     runs=row.get("runs"))
        out.append(r)
    by = {r["server"]: r for r in out if not r.get("error")}
    knot = by.get("knot", {}).get("qps")
    echo = by.get("echo", {}).get("qps")
    for r in out:
        if r.get("qps"):
            r["x_knot"] = r["qps"] / knot if knot else None
            r["pct_echo"] = 100.0 * r["qps"] / echo if echo else None
    return out


COLS = [("server", "server", "{}"), ("qps", "qps", "{:,.0f}"), ("x_knot", "x knot", "{:.2f}"),
        ("pct_echo", "%echo", "{:.0f}%"), ("p50", "p50 ms", "{:.3f}"), ("p99", "p99 ms", "{:.3f}"),
        ("cpu", "cpu ms/1k", "{:.2f}"), ("pss", "PSS MiB", "{:.1f}"),
        ("ready", "ready s", "{:.2f}"), ("srv", "srv cpu", "{:.0f}%"),
        ("cli", "cli cpu", "{:.0f}%"), ("lost", "lost", "{:.2f}%"),
        ("mismatches", "mismatches", "{}")]


def fmt(r, key, f):
    v = r.get(key)
    if v is None:
        return "-"
    if key in ("p50", "p99"):
        v = v * 1e3
    try:
        return f.format(v)
    except (ValueError, TypeError):
        return str(v)


def table(rows, markdown):
    lines = []
    cells = []
    for r in rows:
        if r.get("error"):
            cells.append([r["server"], "ERROR " + str(r["error"])[:80]] + [""] * (len(COLS) - 2))
        else:
            cells.append([fmt(r, k, f) for k, _, f in COLS])
    heads = [h for _, h, _ in COLS]
    if markdown:
        lines.append("| " + " | ".join(heads) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(heads))) + "|")
        for c in cells:
            lines.append("| " + " | ".join(c) + " |")
    else:
        w = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
        lines.append("  ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i])
                               for i, h in enumerate(heads)))
        for c in cells:
            lines.append("  ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i])
                                   for i, x in enumerate(c)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--holdfast", default=str(ROOT / "build" / "holdfast"))
    ap.add_argument("--dnsbench", default=os.environ.get("BENCH_DIR"))
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1000,10000,100000"))
    ap.add_argument("--servers", default=os.environ.get("BENCH_SERVERS", DEFAULT_SERVERS))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "2")))
    ap.add_argument("--duration", type=int,
                    default=int(os.environ.get("BENCH_DURATION", "4")))
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-two-workers", dest="two_workers", action="store_false")
    ap.add_argument("--outdir", default=None, help="keep dnsbench's output and JSON here")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not Path(args.holdfast).exists():
        sys.exit(f"bench.py: {args.holdfast} not built")
    dnsbench = load_dnsbench(find_dnsbench(args.dnsbench))
    outdir = Path(args.outdir or f"/tmp/holdfast-bench.{os.getpid()}")
    outdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    t0 = time.time()
    report, failed = {}, False
    for size in sizes:
        blob = run_size(dnsbench, args, size, outdir)
        if blob is None:
            failed = True
            continue
        rows = rows_for(blob)
        report[size] = {"rows": rows, "versions": blob.get("versions"),
                        "commands": blob.get("commands")}
        for r in rows:
            if r["server"].startswith("holdfast") and (r.get("error") or r.get("mismatches") != 0):
                failed = True
    load = os.getloadavg()
    print()
    print(f"holdfast bench: {args.runs} x {args.duration:g}s per server per size, medians; "
          f"servers pinned to CPU 0 (one worker; holdfast-2w: two workers on CPUs 0,1), "
          f"client qblast_lat on CPU 1 (-q 100); {time.time() - t0:.0f}s; "
          f"load average before the table {load[0]:.2f}")
    for size in sizes:
        if size not in report:
            print(f"\n{size} services: no result (see {outdir})")
            continue
        print(f"\n{size:,} services" + (" (markdown)" if args.markdown else "") + ":")
        print(table(report[size]["rows"], args.markdown))
    print("\nx knot = qps / Knot's qps; %echo = qps / the echo ceiling's qps; cpu ms/1k = "
          "server process CPU per 1,000 answers; mismatches = answers differing from NSD's "
          f"(200 sampled + 33 probes + 8 sanity cases); raw output in {outdir}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
