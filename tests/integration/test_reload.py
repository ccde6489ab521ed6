"""test_reload.py: the reload plugin (spec 9) and the reload signals (spec
1.7; SIGHUP reloads too, issue 6).

A Corefile with `reload 2s 1s` is changed on disk: a new kubernetes `ttl`
must be served within one period (at most 2.5 s); the logged "Running
configuration SHA512" must be the SHA-512 of the documented serialisation
of the server blocks (computed here independently) and equal
coredns_reload_version_info; a comment/whitespace-only change must not
reload; a syntax error is a warning with file:line:col and the old config
keeps answering; a config that parses but fails to start logs "Corefile
changed but reload failed: FILE:LINE:COL: ..." and bumps
coredns_reload_failed_total.  Without the plugin, SIGHUP and SIGUSR1 each
reload at once.
"""

import hashlib
import json
import re
import signal
import time
from pathlib import Path

import dns.message

import harness
from harness import CFG, DATA
from test_metrics import exchange, parse_metrics, scrape, val

TEST_TIMEOUT = 60
WEB = "web.shop.svc.cluster.local."


def corefile(port, mport, ttl, reload_line="reload 2s 1s", extra=""):
    return f"""cluster.local:{port} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{mport}
    {reload_line}
    kubernetes cluster.local {{
        manifest cluster.yaml
        ttl {ttl}
    }}
{extra}}}
"""


def expected_hash(text):
    """SHA-512 of [{"Keys":[...],"Tokens":[[directive tokens...],...]}] for a
    simple Corefile (no quotes, imports or env): comments dropped, a
    directive = its line plus its { } block."""
    blocks = []
    lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    i = 0
    while i < len(lines):
        keys = lines[i][:-1]
        assert lines[i][-1] == "{"
        i += 1
        toks = []
        while lines[i] != ["}"]:
            d = list(lines[i])
            depth = 1 if d[-1] == "{" else 0
            i += 1
            while depth:
                d += lines[i]
                depth += lines[i].count("{") - lines[i].count("}")
                i += 1
            toks.append(d)
        i += 1
        blocks.append({"Keys": keys, "Tokens": toks})
    ser = json.dumps(blocks, separators=(",", ":"))
    return hashlib.sha512(ser.encode()).hexdigest()


def ttl_of(t, port, what):
    r = exchange(port, harness.build_query(WEB, "A").to_wire(), False, "127.0.0.1")
    if not t.check(r is not None, f"{what}: {WEB} answered"):
        return None
    m = dns.message.from_wire(r)
    return m.answer[0].ttl if m.answer else None


def wait_ttl(port, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = exchange(port, harness.build_query(WEB, "A").to_wire(), False, "127.0.0.1")
        if r is not None:
            m = dns.message.from_wire(r)
            if m.answer and m.answer[0].ttl == want:
                return True
        time.sleep(0.1)
    return False


def start(name, text_fn):
    port = harness.free_port()
    d = Path(CFG.tmpdir(name))
    (d / "cluster.yaml").write_text((DATA / "cluster.yaml").read_text())
    conf = d / "Corefile"
    conf.write_text(text_fn(port))
    s = harness.Server(name, None, (), 5, None, conf=conf, port=port)
    s.start()
    return s, conf


def log_of(s):
    return (s.dir / "stdout.log").read_text(errors="replace") + \
        (s.dir / "stderr.log").read_text(errors="replace")


def test_reload_plugin(t):
    mport = harness.free_port()
    s, conf = start("reload-plugin", lambda p: corefile(p, mport, 5))
    try:
        port = s.port
        t.eq(ttl_of(t, port, "start"), 5, "ttl 5 served at start")
        h0 = expected_hash(conf.read_text())
        # the line is written once the listeners run, so it may trail the
        # first answer by a moment (under ASan and load)
        want = f"[INFO] plugin/reload: Running configuration SHA512 = {h0}"
        deadline = time.monotonic() + 5
        log = log_of(s)
        while want not in log and time.monotonic() < deadline:
            time.sleep(0.1)
            log = log_of(s)
        t.check(want in log,
                "the running configuration's SHA-512 is logged at start", log[-600:])
        m, _, _ = parse_metrics(scrape(mport))
        t.eq(val(m, "coredns_reload_version_info", hash="sha512", value=h0), 1,
             "coredns_reload_version_info carries the same SHA-512")
        t.eq(val(m, "coredns_reload_failed_total"), 0, "no failed reload yet")

        # a new ttl: served within one period (<= 2.5 s) + margin
        conf.write_text(corefile(port, mport, 17))
        h1 = expected_hash(conf.read_text())
        t.check(wait_ttl(port, 17, 4.5), "changed ttl served within one reload period")
        time.sleep(0.3)
        log = log_of(s)
        t.check(f"Running configuration SHA512 = {h1}" in log, "the new SHA-512 is logged")
        t.eq(log.count("Reloading complete"), 1, "one reload so far")
        m, _, _ = parse_metrics(scrape(mport))
        t.eq(val(m, "coredns_reload_version_info", hash="sha512", value=h1), 1,
             "coredns_reload_version_info follows the new config")

        # comments and whitespace only: no reload
        text = conf.read_text().replace("    bind 127.0.0.1\n",
                                        "  # a comment\n\n    bind    127.0.0.1   # here too\n")
        conf.write_text("# header comment\n" + text)
        t.eq(expected_hash(conf.read_text()), h1, "(test) the edit leaves the tokens alone")
        time.sleep(3.2)
        t.eq(log_of(s).count("Reloading complete"), 1,
             "a comment/whitespace-only change does not reload")

        # a syntax error: warning with file:line:col, old config keeps serving
        conf.write_text(corefile(port, mport, '"29'))  # unterminated quote
        time.sleep(3.2)
        log = log_of(s)
        t.check(re.search(r"\[WARNING\] plugin/reload: Corefile parse failed: \S*Corefile:\d+:\d+: ",
                          log) is not None, "a syntax error is a warning with file:line:col",
                log[-600:])
        t.eq(ttl_of(t, port, "after a syntax error"), 17, "the old config keeps answering")

        # parses but cannot start: error, coredns_reload_failed_total++
        conf.write_text(corefile(port, mport, 29, extra="    nosuchplugin\n"))
        time.sleep(3.2)
        log = log_of(s)
        t.check(re.search(r"\[ERROR\] Corefile changed but reload failed: \S*Corefile:9:5: "
                          r"Unknown directive 'nosuchplugin'", log) is not None,
                "a config that fails to start: error with file:line:col", log[-600:])
        t.eq(ttl_of(t, port, "after a failed reload"), 17, "the old config keeps answering")
        m, _, _ = parse_metrics(scrape(mport))
        t.eq(val(m, "coredns_reload_failed_total"), 1, "coredns_reload_failed_total is 1")
        t.eq(val(m, "coredns_reload_version_info", hash="sha512", value=h1), 1,
             "the running config's version info stays")
        t.check(s.alive(), "the server is still running")
    finally:
        t.check(not s.stop(), "server stops cleanly")


def test_reload_signals(t):
    mport = harness.free_port()
    s, conf = start("reload-signals", lambda p: corefile(p, mport, 5, reload_line=""))
    try:
        port = s.port
        t.eq(ttl_of(t, port, "start"), 5, "ttl 5 served at start")
        conf.write_text(corefile(port, mport, 23, reload_line=""))
        time.sleep(2.5)
        t.eq(ttl_of(t, port, "no reload plugin"), 5, "without reload the file is not re-read")
        s.proc.send_signal(signal.SIGHUP)
        t.check(wait_ttl(port, 23, 3), "SIGHUP reloads the Corefile (issue 6)")
        t.check("[INFO] SIGHUP: Reloading" in log_of(s), "SIGHUP reload is logged")
        conf.write_text(corefile(port, mport, 31, reload_line=""))
        s.proc.send_signal(signal.SIGUSR1)
        t.check(wait_ttl(port, 31, 3), "SIGUSR1 reloads the Corefile")
        t.check("[INFO] SIGUSR1: Reloading" in log_of(s), "SIGUSR1 reload is logged")
        # the query counters of the process survive reloads (Prometheus counters)
        sv = {"server": f"dns://127.0.0.1:{port}", "zone": "cluster.local.", "view": ""}

        def requests():
            m, _, _ = parse_metrics(scrape(mport))
            return sum(v for k, v in m.items() if k[0] == "coredns_dns_requests_total"
                       and all(kv in k[1] for kv in sv.items()))
        time.sleep(1.0)  # queries the previous engines answered show once they are closed
        n0 = requests()
        t.check(n0 >= 3, "queries before the reloads are counted", str(n0))
        conf.write_text(corefile(port, mport, 31, reload_line="").replace("ttl 31", "ttl 31\n        "))
        s.proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)  # the old engine is closed once no worker uses it
        for _ in range(3):
            ttl_of(t, port, "after another reload")
        t.eq(requests(), n0 + 3, "coredns_dns_requests_total keeps counting across reloads")
        conf.write_text(corefile(port, mport, 37, reload_line="", extra="    nosuchplugin\n"))
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        t.check("Corefile changed but reload failed" in log_of(s), "a bad Corefile on SIGHUP is an error")
        t.eq(ttl_of(t, port, "after a bad SIGHUP reload"), 31, "the old config keeps answering")
        t.check(s.alive(), "the server is still running")
    finally:
        t.check(not s.stop(), "server stops cleanly")
