"""test_corefile_errors.py: broken Corefiles and manifests must stop holdfast
at startup: exit status 1, no listening socket, and on stderr both
    FILE:LINE:COL: MESSAGE                       (holdfast's location line)
    <the CoreDNS wording of spec 1.6>            (e.g. FILE:3 - Error during parsing: ...)
where FILE is the -conf path as given.  Each case runs holdfast in a temp
dir with `-conf NAME.Corefile -dns.port PORT` (relative path).
"""

import re
from pathlib import Path

import harness
from harness import CFG, DATA

TEST_TIMEOUT = 180

BASE_FILES = ("cluster.yaml",)

# (name, Corefile text, location line or None (any), CoreDNS wording with
#  {F} = the -conf path and {PORT} = the port; extra files {name: text})
CASES = [
    ("unknown-directive", """\
cluster.local {
    bind 127.0.0.1
    kubernets {
        manifest cluster.yaml
    }
}
""", 3, ["{F}:3 - Error during parsing: Unknown directive 'kubernets'"], {}),

    ("unknown-property", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        foo bar
    }
}
""", 5, ["plugin/kubernetes: {F}:5 - Error during parsing: unknown property 'foo'"], {}),

    ("bad-pods-value", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        pods x
    }
}
""", None, ["plugin/kubernetes: wrong value for pods: x,  must be one of: disabled, verified, insecure"],
     {}),

    ("ttl-too-big", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        ttl 3601
    }
}
""", 5, ["plugin/kubernetes: {F}:5 - Error during parsing: ttl must be in range [0, 3600]: 3601"], {}),

    ("ttl-negative", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        ttl -1
    }
}
""", 5, ["plugin/kubernetes: {F}:5 - Error during parsing: ttl must be in range [0, 3600]: -1"], {}),

    ("unclosed-directive-block", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
""", None, ["{F}:", " - Error during parsing: Unexpected EOF"], {}),

    ("unclosed-server-block", """\
cluster.local {
    bind 127.0.0.1
    errors
""", None, ["{F}:3 - Syntax error: Unexpected token 'errors', expecting '}'"], {}),

    ("unexpected-close-brace", """\
cluster.local {
    bind 127.0.0.1 }
    errors
}
""", 2, ["{F}:2 - Error during parsing: Unexpected '}' because no matching opening brace"], {}),

    ("duplicate-zone-port", """\
cluster.local {
    bind 127.0.0.1
    errors
}
cluster.local {
    bind 127.0.0.1
    errors
}
""", None, ["cannot serve dns://cluster.local.:{PORT} on 127.0.0.1 - it is already defined"], {}),

    # without bind (never listens: setup fails first).  zoneAddr.String()
    # adds " on ADDRESS" only for bound keys (core/dnsserver/address.go)
    ("duplicate-zone-port-unbound", """\
cluster.local {
    errors
}
cluster.local {
    errors
}
""", None, ["cannot serve dns://cluster.local.:{PORT} - it is already defined"], {}),

    ("bad-zone", """\
a..b {
    bind 127.0.0.1
    errors
}
""", None, ["zone is not a valid domain name"], {}),

    ("key-trailing-colon", """\
cluster.local: {
    bind 127.0.0.1
    errors
}
""", None, ['expecting data after last colon: "cluster.local:"'], {}),

    ("extra-comma", """\
cluster.local, {
    bind 127.0.0.1
    errors
}
""", None, ["Expected another address but had '{' - check for extra comma"], {}),

    ("import-missing-file", """\
cluster.local {
    bind 127.0.0.1
    import nothere.conf
}
""", 3, ["{F}:3 - Error during parsing: File to import not found: ", "nothere.conf"], {}),

    ("import-directory", """\
cluster.local {
    bind 127.0.0.1
    import snippets
}
""", None, ["Could not import ", "snippets: is a directory"], {"snippets/keep.conf": "errors\n"}),

    ("snippet-redeclared", """\
(common) {
    errors
}
(common) {
    log
}
cluster.local {
    bind 127.0.0.1
    import common
}
""", None, ["redeclaration of previously declared snippet common"], {}),

    ("cache-ttl-zero", """\
cluster.local {
    bind 127.0.0.1
    cache 0
}
""", None, ["plugin/cache: cache TTL can not be zero or negative: 0"], {}),

    ("cache-success-no-args", """\
cluster.local {
    bind 127.0.0.1
    cache 30 {
        success
    }
}
""", 4, ["plugin/cache: {F}:4 - Error during parsing: Wrong argument count or unexpected line "
         "ending after 'success'"], {}),

    ("cache-servfail-too-long", """\
cluster.local {
    bind 127.0.0.1
    cache 30 {
        servfail 6m
    }
}
""", None, ["caching SERVFAIL responses over 5 minutes is not permitted"], {}),

    ("forward-16-upstreams", """\
. {
    bind 127.0.0.1
    forward . """ + " ".join(f"127.0.0.1:{5301 + i}" for i in range(16)) + """
}
""", None, ["plugin/forward: more than 15 TOs configured: 16"], {}),

    ("namespaces-and-namespace-labels", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        namespaces shop
        namespace_labels team=shop
    }
}
""", None, ["plugin/kubernetes: namespaces and namespace_labels cannot both be set"], {}),

    ("namespaces-without-args", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
        namespaces
    }
}
""", 5, ["plugin/kubernetes: {F}:5 - Error during parsing: Wrong argument count or unexpected "
         "line ending after 'namespaces'"], {}),

    ("kubernetes-twice", """\
cluster.local {
    bind 127.0.0.1
    kubernetes {
        manifest cluster.yaml
    }
    kubernetes {
        manifest cluster.yaml
    }
}
""", None, ["plugin/kubernetes: this plugin can only be used once per Server Block"], {}),

    # dnsutil.IsReverse wants the ".in-addr.arpa." suffix, so a bare
    # in-addr.arpa. would count as forward; a CIDR gives a real reverse zone
    ("only-reverse-zones", """\
cluster.local {
    bind 127.0.0.1
    kubernetes 10.0.0.0/8 {
        manifest cluster.yaml
    }
}
""", None, ["plugin/kubernetes: non-reverse zone name must be used"], {}),

    ("reload-interval-too-short", """\
cluster.local {
    bind 127.0.0.1
    reload 1s
}
""", None, ["plugin/reload: interval value must be greater or equal to 2s"], {}),
]

# manifest problems: exit 1 and a message naming the file
MANIFEST_CASES = [
    ("manifest-missing", "nothere.yaml", {}),
    ("manifest-broken-yaml", "broken.yaml",
     {"broken.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n  namespace: shop\n"}),
    ("manifest-not-yaml-at-all", "binary.yaml", {"binary.yaml": "\t\x00\x01: : :\n- [\n"}),
    ("manifest-service-without-name", "noname.yaml",
     {"noname.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: shop\n"
                     "spec:\n  type: ClusterIP\n  clusterIP: 10.96.9.9\n"}),
]


def _setup(name, text, extra):
    d = Path(CFG.tmpdir("err-" + name))
    for f in BASE_FILES:
        (d / f).write_text((DATA / f).read_text())
    for fname, content in extra.items():
        p = d / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    conf_rel = f"{name}.Corefile"
    (d / conf_rel).write_text(text)
    return d, conf_rel


def _run_case(t, name, text, line, wording, extra, conf_rel=None):
    d, rel = _setup(name, text, extra)
    if conf_rel:   # a -conf path with a directory part
        (d / conf_rel).parent.mkdir(parents=True, exist_ok=True)
        (d / conf_rel).write_text(text)
        rel = conf_rel
    port = harness.free_port()
    rc, out, err = harness.run_holdfast(["-conf", rel, "-dns.port", str(port)], cwd=d,
                                        timeout=4.0)
    problems = []
    if rc is None:
        problems.append("still running after 4 s (killed): the error was not fatal")
    elif rc != 1:
        problems.append(f"exit status {rc}, want 1")
    loc = re.compile(r"^" + re.escape(rel) + r":(\d+):(\d+): \S.*$", re.M)
    m = loc.search(err)
    if not m:
        problems.append(f"no '{rel}:LINE:COL: message' line on stderr")
    elif line is not None and int(m.group(1)) != line:
        problems.append(f"location line {m.group(1)}, want {line}")
    for w in wording:
        w = w.replace("{F}", rel).replace("{PORT}", str(port))
        if w not in err:
            problems.append(f"stderr lacks the CoreDNS wording: {w!r}")
    if rc is not None and not harness.port_is_free(port):
        problems.append(f"port {port} is still bound after exit")
    if problems:
        problems.append("stderr: " + (err.strip().replace("\n", "\n          ") or "(empty)"))
    t.record(not problems, f"{name}: exit 1 with location and CoreDNS wording", problems)


def test_corefile_errors(t):
    for name, text, line, wording, extra in CASES:
        _run_case(t, name, text, line, wording, extra)


def test_error_names_conf_path_as_given(t):
    name, text, line, wording, extra = CASES[0]
    _run_case(t, name + "-subdir", text, line, wording, extra, conf_rel="conf.d/holdfast.Corefile")


def test_manifest_errors(t):
    for name, manifest, extra in MANIFEST_CASES:
        text = f"""\
cluster.local {{
    bind 127.0.0.1
    kubernetes {{
        manifest {manifest}
    }}
}}
"""
        d, rel = _setup(name, text, extra)
        port = harness.free_port()
        rc, out, err = harness.run_holdfast(["-conf", rel, "-dns.port", str(port)], cwd=d,
                                        timeout=4.0)
        problems = []
        if rc != 1:
            problems.append(f"exit status {rc}, want 1")
        if manifest not in err:
            problems.append(f"stderr does not name {manifest}")
        if rc is not None and not harness.port_is_free(port):
            problems.append(f"port {port} is still bound after exit")
        if problems:
            problems.append("stderr: " + (err.strip().replace("\n", "\n          ") or "(empty)"))
        t.record(not problems, f"{name}: exit 1, message names {manifest}", problems)
