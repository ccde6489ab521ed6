"""test_options.py: kubernetes plugin options (spec 4.1, 4.7, 4.10) and the
interplay with forward: ttl, namespaces, namespace_labels, labels, ignore
empty_service, noendpoints, endpoint_pod_names, pods disabled / insecure /
verified, fallthrough (to a forward whose upstream is a fake DNS server the
suite runs on 127.0.0.1), CIDR reverse zones.  Data: cluster.yaml (+
pods-list.yaml); one server per option, see data/*.Corefile.
"""

import dns.reversename

import harness
from harness import expect, nodata, nx, UPSTREAM_A, UPSTREAM_AAAA, UPSTREAM_PTR

Z = "cluster.local."


def S(name, ns):
    return f"{name}.{ns}.svc.cluster.local."


def rev(ip):
    return dns.reversename.from_address(ip).to_text()


WEB = S("web", "shop")


def ttl_server(ttl):
    return harness.server(f"ttl{ttl}", template="ttl.Corefile", ttl=ttl, subst={"TTL": ttl})


def test_ttl(t):
    for ttl in (30, 600, 0):
        s = ttl_server(ttl)
        expect(t, s, WEB, "A", answer=[f"{WEB} {ttl} IN A 10.96.100.10"])
        # SOA TTL min(ttl, 300), MINIMUM = ttl (nx/nodata build it from s.ttl)
        nx(t, s, S("nope", "shop"), "A")
        nodata(t, s, WEB, "AAAA")
        expect(t, s, Z, "SOA", answer=[harness.soa_rr(Z, ttl)])
        r = rev("10.96.100.10")
        expect(t, s, r, "PTR", answer=[f"{r} {ttl} IN PTR {WEB}"])
        n = "_http._tcp." + WEB
        expect(t, s, n, "SRV", answer=[f"{n} {ttl} IN SRV 0 100 80 {WEB}"],
               additional=[f"{WEB} {ttl} IN A 10.96.100.10"])
        # the dns-version TXT keeps its own TTL
        expect(t, s, "dns-version.cluster.local.", "TXT",
               answer=['dns-version.cluster.local. 28800 IN TXT "1.1.0"'])


def test_namespaces(t):
    s = harness.server("namespaces")   # namespaces shop kube-system, pods insecure
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    kd = S("kube-dns", "kube-system")
    expect(t, s, kd, "A", answer=[f"{kd} 5 IN A 10.96.0.10"])
    nx(t, s, S("db", "data"), "A")
    nx(t, s, S("cache", "data"), "A")
    nx(t, s, "db-0." + S("db", "data"), "A")
    nx(t, s, "_postgres._tcp." + S("db", "data"), "SRV")
    nx(t, s, S("kubernetes", "default"), "A")
    nx(t, s, "1-2-3-4.data.pod.cluster.local.", "A")
    nx(t, s, "data.pod.cluster.local.", "A")
    p = "1-2-3-4.shop.pod.cluster.local."
    expect(t, s, p, "A", answer=[f"{p} 5 IN A 1.2.3.4"])


def test_namespace_labels(t):
    s = harness.server("nslabels")     # namespace_labels team=shop, pods insecure
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    nx(t, s, S("db", "data"), "A")
    nx(t, s, S("kubernetes", "default"), "A")
    nx(t, s, S("kube-dns", "kube-system"), "SRV")
    nx(t, s, "1-2-3-4.data.pod.cluster.local.", "A")
    p = "1-2-3-4.shop.pod.cluster.local."
    expect(t, s, p, "A", answer=[f"{p} 5 IN A 1.2.3.4"])


def test_labels(t):
    s = harness.server("labels")       # labels env=prod
    # service and slice both labelled env=prod
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    e = "10-244-1-10." + WEB
    expect(t, s, e, "A", answer=[f"{e} 5 IN A 10.244.1.10"])
    # env=dev / no label: not seen
    nx(t, s, S("canary", "shop"), "A")
    nx(t, s, S("kubernetes", "default"), "A")
    nx(t, s, S("db", "data"), "A")
    # headless service labelled, its slice not: no endpoints -> NXDOMAIN
    nx(t, s, S("prodheadless", "shop"), "A")
    r = rev("10.96.100.100")
    nx(t, s, r, "PTR", zone="in-addr.arpa.")
    r = rev("10.96.100.10")
    expect(t, s, r, "PTR", answer=[f"{r} 5 IN PTR {WEB}"])
    # namespaces are not filtered by `labels`
    nodata(t, s, "data.svc.cluster.local.", "A")


def test_ignore_empty_service(t):
    s = harness.server("ignore")
    # ClusterIP services without a ready address are skipped
    for n in ("empty", "noports", "v6only", "twin1"):
        nx(t, s, S(n, "shop"), "A")
    nx(t, s, S("empty", "shop"), "SRV")
    # with ready endpoints: unchanged
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    d = S("dual", "shop")
    expect(t, s, d, "AAAA", answer=[f"{d} 5 IN AAAA fd00:96::60"])
    k = S("kubernetes", "default")
    expect(t, s, k, "A", answer=[f"{k} 5 IN A 10.96.0.1"])
    # headless and ExternalName are unaffected
    db = S("db", "data")
    expect(t, s, db, "A", answer=[f"{db} 5 IN A 10.244.1.20", f"{db} 5 IN A 10.244.2.21",
                                  f"{db} 5 IN A 10.244.3.22"])
    nx(t, s, S("emptyheadless", "shop"), "A")
    ext = S("ext", "shop")
    expect(t, s, ext, "CNAME", answer=[f"{ext} 5 IN CNAME {WEB}"])


def test_noendpoints(t):
    s = harness.server("noendpoints")
    # ClusterIP answers stay (SRV from service ports and ClusterIPs)
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
    expect(t, s, WEB, "SRV", answer=[f"{WEB} 5 IN SRV 0 50 80 {WEB}", f"{WEB} 5 IN SRV 0 50 443 {WEB}"],
           additional=[f"{WEB} 5 IN A 10.96.100.10"])
    r = rev("10.96.100.10")
    expect(t, s, r, "PTR", answer=[f"{r} 5 IN PTR {WEB}"])
    # headless services, endpoint names, endpoint PTRs -> NXDOMAIN
    nx(t, s, S("db", "data"), "A")
    nx(t, s, S("db", "data"), "SRV")
    nx(t, s, "db-0." + S("db", "data"), "A")
    nx(t, s, "10-244-1-10." + WEB, "A")
    nx(t, s, rev("10.244.1.20"), "PTR", zone="in-addr.arpa.")
    nx(t, s, rev("10.244.1.10"), "PTR", zone="in-addr.arpa.")


def test_endpoint_pod_names(t):
    s = harness.server("podnames")
    # no hostname: the pod name (< 64 chars) names the endpoint
    n = "web-7d9f8b6c5d-abcde." + WEB
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.1.10"])
    nx(t, s, "10-244-1-10." + WEB, "A")
    nh = S("nohost", "shop")
    n = "nohost-5c9b7-aaaaa." + nh
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.1.30"])
    expect(t, s, n, "AAAA", answer=[f"{n} 5 IN AAAA fd00:10:244:1::30"])
    n = "nohost-5c9b7-bbbbb." + nh
    expect(t, s, n, "AAAA", answer=[f"{n} 5 IN AAAA 2001:db8:1::"])
    # no targetRef: dashed IP
    n = "10-244-2-31." + nh
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.2.31"])
    # 64-char pod name: dashed IP; 63 chars: the pod name; hostname wins
    pn = S("podnamed", "shop")
    n = "10-244-8-1." + pn
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.8.1"])
    p63 = "pod-" + "b" * 59
    n = f"{p63}.{pn}"
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.8.2"])
    n = "named-host." + pn
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.8.3"])
    nx(t, s, "podnamed-c." + pn, "A")
    n = "db-0." + S("db", "data")
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.1.20"])
    # SRV targets follow the endpoint names; one pod name for two addresses
    # gives one SRV (same target, port) and two glue records
    a, b, c = "nohost-5c9b7-aaaaa." + nh, "10-244-2-31." + nh, "nohost-5c9b7-bbbbb." + nh
    expect(t, s, nh, "SRV",
           answer=[f"{nh} 5 IN SRV 0 25 9000 {x}" for x in (a, b, c)],
           additional=[f"{a} 5 IN A 10.244.1.30", f"{a} 5 IN AAAA fd00:10:244:1::30",
                       f"{b} 5 IN A 10.244.2.31", f"{c} 5 IN AAAA 2001:db8:1::"])
    r = rev("10.244.1.10")
    expect(t, s, r, "PTR", answer=[f"{r} 5 IN PTR web-7d9f8b6c5d-abcde.{WEB}"])


def test_pods_disabled(t):
    s = harness.server("disabled")
    nx(t, s, "10-244-1-10.shop.pod.cluster.local.", "A")
    nx(t, s, "fd00--1.shop.pod.cluster.local.", "AAAA")
    nx(t, s, "x.1-2-3-4.shop.pod.cluster.local.", "A")
    nodata(t, s, "pod.cluster.local.", "A")


def test_pods_verified(t):
    s = harness.server("verified", files=("cluster.yaml", "pods-list.yaml"))
    for name, ip in (("10-244-1-10.shop", "10.244.1.10"), ("10-244-2-11.shop", "10.244.2.11"),
                     ("10-244-1-20.data", "10.244.1.20"), ("10-244-1-50.shop", "10.244.1.50")):
        n = f"{name}.pod.cluster.local."
        expect(t, s, n, "A", answer=[f"{n} 5 IN A {ip}"])
    n = "x.10-244-1-10.shop.pod.cluster.local."
    expect(t, s, n, "A", answer=[f"{n} 5 IN A 10.244.1.10"])
    n = "fd00-10-244-1--51.shop.pod.cluster.local."
    expect(t, s, n, "AAAA", answer=[f"{n} 5 IN AAAA fd00:10:244:1::51"])
    nodata(t, s, "10-244-1-10.shop.pod.cluster.local.", "AAAA")
    # pod in another namespace, no pod, excluded phases, being deleted,
    # the second IP of a dual-stack pod (only status.podIP counts)
    for n in ("10-244-1-10.data", "10-244-9-99.shop", "10-244-4-4.shop", "10-244-4-6.shop",
              "10-244-4-7.shop", "10-244-4-5.shop"):
        nx(t, s, f"{n}.pod.cluster.local.", "A")
    nx(t, s, "fd00-10-244-1--50.shop.pod.cluster.local.", "AAAA")


def test_fallthrough_reverse_zones(t):
    up = harness.upstream()
    s = harness.server("fallrev", subst={"UPSTREAM": up.addr})
    # unknown PTR in a fallthrough zone -> next plugin (forward)
    r = rev("192.0.2.77")
    expect(t, s, r, "PTR", aa=False, ra=True, answer=[f"{r} 60 IN PTR {UPSTREAM_PTR}"])
    t.check(up.seen(r, "PTR") >= 1, "fallrev: unknown PTR reached the upstream")
    r6 = rev("fd00:96::99")
    expect(t, s, r6, "PTR", aa=False, ra=True, answer=[f"{r6} 60 IN PTR {UPSTREAM_PTR}"])
    r = rev("10.244.3.12")   # not-ready endpoint: NXDOMAIN class -> falls through
    expect(t, s, r, "PTR", aa=False, ra=True, answer=[f"{r} 60 IN PTR {UPSTREAM_PTR}"])
    # known PTR: the kubernetes plugin answers
    r = rev("10.96.100.10")
    expect(t, s, r, "PTR", answer=[f"{r} 5 IN PTR {WEB}"])
    t.check(up.seen(r) == 0, "fallrev: known PTR not forwarded")
    # unknown cluster name: fallthrough does not cover cluster.local
    nx(t, s, S("nope", "shop"), "A")
    t.check(up.seen(S("nope", "shop")) == 0, "fallrev: cluster.local NXDOMAIN not forwarded")
    # names outside the plugin's zones go to forward (no REFUSED here)
    expect(t, s, "example.com.", "A", aa=False, ra=True,
           answer=[f"example.com. 60 IN A {UPSTREAM_A}"])
    expect(t, s, "example.com.", "AAAA", tcp=True, aa=False, ra=True,
           answer=[f"example.com. 60 IN AAAA {UPSTREAM_AAAA}"])
    t.check(up.seen("example.com.", "AAAA") >= 1, "fallrev: AAAA over TCP reached the upstream")
    expect(t, s, "nx.nxdomain.test.", "A", rcode="NXDOMAIN", aa=False, ra=True,
           authority=["test. 60 IN SOA ns.test. hostmaster.test. 1 7200 1800 86400 60"])
    # ExternalName to an outside name: CNAME + the target resolved through
    # the chain (here: forward) (4.5)
    out = S("extout", "shop")
    expect(t, s, out, "A", ordered=True,
           answer=[f"{out} 5 IN CNAME example.com.", f"example.com. 60 IN A {UPSTREAM_A}"])


def test_fallthrough_all_zones(t):
    up = harness.upstream()
    s = harness.server("fallall", subst={"UPSTREAM": up.addr})
    # NXDOMAIN-class names anywhere in the zones go to the next plugin
    n = S("nope", "shop")
    expect(t, s, n, "A", aa=False, ra=True, answer=[f"{n} 60 IN A {UPSTREAM_A}"])
    t.check(up.seen(n, "A") >= 1, "fallall: unknown service reached the upstream")
    n = "foo.cluster.local."
    expect(t, s, n, "A", aa=False, ra=True, answer=[f"{n} 60 IN A {UPSTREAM_A}"])
    n = "nope.svc.cluster.local."
    expect(t, s, n, "TXT", aa=False, ra=True, answer=[f'{n} 60 IN TXT "upstream"'])
    # NODATA never falls through
    nodata(t, s, WEB, "AAAA")
    t.check(up.seen(WEB) == 0, "fallall: NODATA for an existing name not forwarded")
    nodata(t, s, "shop.svc.cluster.local.", "A")
    t.check(up.seen("shop.svc.cluster.local.") == 0, "fallall: namespace NODATA not forwarded")
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])


def test_cidr_reverse_zone(t):
    s = harness.server("cidr")   # keys cluster.local 10.96.0.0/16
    z = "96.10.in-addr.arpa."
    r = rev("10.96.100.10")
    expect(t, s, r, "PTR", answer=[f"{r} 5 IN PTR {WEB}"])
    expect(t, s, z, "SOA", answer=[harness.soa_rr(z, 5)])
    # the reverse zone's apex -> NODATA (4.5)
    nodata(t, s, z, "PTR", zone=z)
    nx(t, s, rev("10.96.99.99"), "PTR", zone=z)
    # 10.244.x.x is outside every zone of this server -> REFUSED
    harness.refused(t, s, rev("10.244.1.20"), "PTR")
    expect(t, s, WEB, "A", answer=[f"{WEB} 5 IN A 10.96.100.10"])
