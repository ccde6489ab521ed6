"""test_negative.py: NXDOMAIN / NODATA decisions (spec 4.6, every row) and
the quirks of spec 4.12.

Every NXDOMAIN and NODATA must carry exactly the zone's SOA in authority:
`<zone> min(ttl,300) IN SOA ns.dns.<zone> hostmaster.<zone> SERIAL 7200
1800 86400 <ttl>` (zone as spelled in the query), with AA set and RA clear;
harness.nx / harness.nodata check all of that, and the serial is checked to
be a plausible, stable unix time.

Quirk 6 (SERVFAIL + SOA before the first sync) cannot be reached here:
objects loaded from manifests count as fully synced at startup.
"""

import dns.reversename

import harness
from harness import expect, nodata, nx

Z = "cluster.local."


def main():
    return harness.server("main", files=("cluster.yaml", "big.yaml"))


def S(name, ns):
    return f"{name}.{ns}.svc.cluster.local."


def rev(ip):
    return dns.reversename.from_address(ip).to_text()


def test_table_apex_and_type_apex(t):
    s = main()
    # cluster.local. -> NODATA for A/AAAA/SRV/HINFO (4.5 Apex, 4.6 row 1)
    for ty in ("A", "AAAA", "SRV", "HINFO"):
        nodata(t, s, Z, ty)
    # svc. / pod. type apex -> NODATA (row 2), pod. also with pods disabled
    nodata(t, s, "svc.cluster.local.", "A")
    nodata(t, s, "pod.cluster.local.", "A")
    nodata(t, s, "svc.cluster.local.", "AAAA")
    d = harness.server("disabled")
    nodata(t, d, "pod.cluster.local.", "A")
    nodata(t, d, "svc.cluster.local.", "A")


def test_table_invalid_labels(t):
    s = main()
    # a label other than svc/pod right under the zone -> NXDOMAIN (row 3)
    nx(t, s, "foo.cluster.local.", "A")
    nx(t, s, "a.b.cluster.local.", "A")
    nx(t, s, "dns.cluster.local.", "A")
    nx(t, s, "foo.cluster.local.", "AAAA")
    nx(t, s, "web.shop.foo.cluster.local.", "A")


def test_table_namespace_level(t):
    s = main()
    # namespace exists -> NODATA (row 4), also one without services
    nodata(t, s, "shop.svc.cluster.local.", "A")
    nodata(t, s, "empty-ns.svc.cluster.local.", "A")
    nodata(t, s, "kube-system.svc.cluster.local.", "AAAA")
    # missing -> NXDOMAIN (row 5)
    nx(t, s, "nope.svc.cluster.local.", "A")
    # not exposed (namespaces) -> NXDOMAIN, exposed -> NODATA
    ns = harness.server("namespaces")
    nx(t, ns, "data.svc.cluster.local.", "A")
    nx(t, ns, "empty-ns.svc.cluster.local.", "A")
    nodata(t, ns, "shop.svc.cluster.local.", "A")
    # filtered by namespace_labels -> NXDOMAIN
    nl = harness.server("nslabels")
    nx(t, nl, "data.svc.cluster.local.", "A")
    nx(t, nl, "kube-system.svc.cluster.local.", "A")
    nodata(t, nl, "shop.svc.cluster.local.", "A")


def test_table_services(t):
    s = main()
    # exists, other family only -> NODATA (row 6)
    nodata(t, s, S("web", "shop"), "AAAA")
    nodata(t, s, S("v6only", "shop"), "A")
    nodata(t, s, S("db", "data"), "AAAA")
    # does not exist -> NXDOMAIN (row 7)
    nx(t, s, S("nope", "shop"), "A")
    nx(t, s, S("web", "nope"), "A")
    nx(t, s, S("web", "data"), "A")
    nx(t, s, S("nope", "shop"), "SRV")
    # headless with 0 ready endpoints -> NXDOMAIN, whatever the type (row 8)
    eh = S("emptyheadless", "shop")
    nx(t, s, eh, "A")
    nx(t, s, eh, "AAAA")
    nx(t, s, eh, "SRV")
    # ClusterIP with 0 endpoints: A (row 9); with ignore empty_service: NXDOMAIN
    e = S("empty", "shop")
    expect(t, s, e, "A", answer=[f"{e} 5 IN A 10.96.100.50"])
    ig = harness.server("ignore")
    nx(t, ig, e, "A")


def test_table_endpoints_ports_length(t):
    s = main()
    # unknown endpoint -> NXDOMAIN (row 10), also not-ready ones
    nx(t, s, "nope." + S("web", "shop"), "A")
    nx(t, s, "10-244-3-12." + S("web", "shop"), "A")     # not ready
    nx(t, s, "db-3." + S("db", "data"), "A")              # not ready
    nx(t, s, "10-244-8-5." + S("podnamed", "shop"), "A")  # serving, not ready
    nx(t, s, "10-244-7-7." + S("alpha", "shop"), "A")     # has hostname a1
    nx(t, s, "2001-db8-1-." + S("nohost", "shop"), "AAAA")  # needs the 0
    nx(t, s, "10-244-1-20." + S("db", "data"), "A")       # has hostname db-0
    nx(t, s, "db-0." + S("web", "shop"), "A")             # other service's host
    # without endpoint_pod_names a pod name is not an endpoint name
    nx(t, s, "pod-" + "b" * 59 + "." + S("podnamed", "shop"), "A")
    nx(t, s, "web-7d9f8b6c5d-abcde." + S("web", "shop"), "A")
    # no such port / protocol -> NXDOMAIN (row 11)
    w = S("web", "shop")
    nx(t, s, "_http._udp." + w, "SRV")
    nx(t, s, "_nope._tcp." + w, "SRV")
    nx(t, s, "_http._udp." + w, "A")
    nx(t, s, "_dns._tcp." + S("kube-dns", "kube-system"), "SRV")
    # too long -> NXDOMAIN (row 12)
    nx(t, s, "a.b.c." + w, "A")
    nx(t, s, "a.b.c.d." + w, "SRV")


def test_table_pods(t):
    s = main()        # pods insecure
    d = harness.server("disabled")
    v = harness.server("verified", files=("cluster.yaml", "pods-list.yaml"))
    # ns.pod (row 13)
    nx(t, d, "shop.pod.cluster.local.", "A")
    nodata(t, s, "shop.pod.cluster.local.", "A")
    nodata(t, v, "shop.pod.cluster.local.", "A")
    nx(t, s, "nope.pod.cluster.local.", "A")
    # 1-2-3-4.ns.pod (row 14)
    p = "1-2-3-4.shop.pod.cluster.local."
    nx(t, d, p, "A")
    expect(t, s, p, "A", answer=[f"{p} 5 IN A 1.2.3.4"])
    nx(t, v, p, "A")
    p = "10-244-1-10.shop.pod.cluster.local."
    expect(t, v, p, "A", answer=[f"{p} 5 IN A 10.244.1.10"])
    # insecure details (4.7): namespace must exist, wrong family NODATA,
    # IPv6 with -- , unparseable NXDOMAIN
    nx(t, s, "1-2-3-4.nope.pod.cluster.local.", "A")
    nodata(t, s, "1-2-3-4.shop.pod.cluster.local.", "AAAA")
    p6 = "fd00--1.shop.pod.cluster.local."
    expect(t, s, p6, "AAAA", answer=[f"{p6} 5 IN AAAA fd00::1"])
    nodata(t, s, p6, "A")
    nx(t, s, "not-an-ip.shop.pod.cluster.local.", "A")
    nx(t, s, "1-2-3.shop.pod.cluster.local.", "A")
    nx(t, s, "a.b.c.1-2-3-4.shop.pod.cluster.local.", "A")   # too long


def test_table_dns_version_and_soa(t):
    s = main()
    # dns-version: A NXDOMAIN (row 15)
    nx(t, s, "dns-version.cluster.local.", "A")
    # SOA for any non-apex name -> NODATA, even if it does not exist (row 16)
    nodata(t, s, S("web", "shop"), "SOA")
    nodata(t, s, S("nope", "shop"), "SOA")
    nodata(t, s, "foo.cluster.local.", "SOA")
    nodata(t, s, "svc.cluster.local.", "SOA")
    nodata(t, s, rev("10.96.100.10"), "SOA", zone="in-addr.arpa.")


def test_other_types(t):
    s = main()
    w = S("web", "shop")
    # MX/HINFO/CAA/ANY/...: NODATA if the name exists, else NXDOMAIN (4.5)
    for ty in ("MX", "HINFO", "CAA", "ANY", "NAPTR"):
        nodata(t, s, w, ty)
    for ty in ("MX", "ANY"):
        nx(t, s, S("nope", "shop"), ty)
    nodata(t, s, "db-0." + S("db", "data"), "MX")
    # CNAME of a non-ExternalName name -> NODATA / NXDOMAIN
    nodata(t, s, w, "CNAME")
    nx(t, s, S("nope", "shop"), "CNAME")
    # PTR on an existing forward name -> NODATA
    nodata(t, s, w, "PTR")
    # AXFR without the transfer plugin: REFUSED, written by the server
    harness.refused(t, s, Z, "AXFR", tcp=True)


def test_externalname_negative(t):
    s = main()
    ext = S("ext", "shop")
    # SRV and TXT on the bare ExternalName -> NODATA (4.5)
    nodata(t, s, ext, "SRV")
    nodata(t, s, ext, "TXT")
    # endpoint / port labels under an ExternalName -> NXDOMAIN
    nx(t, s, "_http._tcp." + ext, "SRV")
    nx(t, s, "foo." + ext, "A")
    # externalName that is an IP: no record -> NXDOMAIN
    nx(t, s, S("extip", "shop"), "A")
    nx(t, s, S("extip", "shop"), "CNAME")
    # a CNAME whose target is below the qname is dropped -> NODATA
    nodata(t, s, S("extself", "shop"), "A")


def test_reverse_negative(t):
    s = main()
    # addresses that are not ClusterIPs nor ready endpoints -> NXDOMAIN
    nx(t, s, rev("10.244.3.12"), "PTR", zone="in-addr.arpa.")    # not ready
    nx(t, s, rev("10.244.4.4"), "PTR", zone="in-addr.arpa.")     # a pod, no endpoint
    nx(t, s, rev("192.0.2.77"), "PTR", zone="in-addr.arpa.")
    nx(t, s, rev("fd00:96::99"), "PTR", zone="ip6.arpa.")
    # the reverse zone apex -> NODATA; other non-address names -> NXDOMAIN
    nodata(t, s, "in-addr.arpa.", "PTR", zone="in-addr.arpa.")
    nodata(t, s, "ip6.arpa.", "PTR", zone="ip6.arpa.")
    nx(t, s, "10.in-addr.arpa.", "PTR", zone="in-addr.arpa.")
    # the zone part of the SOA follows the query's spelling
    nx(t, s, "77.2.0.192.IN-ADDR.ARPA.", "PTR", zone="IN-ADDR.ARPA.")


def test_wildcards_are_plain_labels(t):
    s = main()
    # wildcards were removed in 1.9.0: `*` and `any` are ordinary labels
    nx(t, s, "*.shop.svc.cluster.local.", "A")
    nx(t, s, "any.shop.svc.cluster.local.", "A")
    nx(t, s, "web.*.svc.cluster.local.", "A")
    nx(t, s, "*." + S("db", "data"), "A")
    nx(t, s, "_*._tcp." + S("web", "shop"), "SRV")


def test_case_of_soa_in_negatives(t):
    s = main()
    # zone part of the SOA (owner, MNAME, RNAME) in the query's case (4.9)
    nx(t, s, "nope.shop.svc.CLUSTER.local.", "A", zone="CLUSTER.local.")
    nodata(t, s, "WEB.shop.svc.Cluster.Local.", "AAAA", zone="Cluster.Local.")
    nodata(t, s, "Cluster.LOCAL.", "A", zone="Cluster.LOCAL.")


def test_quirk1_txt_nxdomain(t):
    s = main()
    # TXT on existing non-service names is NXDOMAIN, not NODATA
    nx(t, s, Z, "TXT")
    nx(t, s, "svc.cluster.local.", "TXT")
    nx(t, s, "shop.svc.cluster.local.", "TXT")
    nx(t, s, "pod.cluster.local.", "TXT")
    # ... but TXT on a name that has records is NODATA
    nodata(t, s, S("web", "shop"), "TXT")
    nodata(t, s, "db-0." + S("db", "data"), "TXT")
    nx(t, s, S("nope", "shop"), "TXT")


def test_quirk2_soa_nodata(t):
    s = main()
    nodata(t, s, "a.b.c.d.e." + S("web", "shop"), "SOA")
    nodata(t, s, "1-2-3-4.shop.pod.cluster.local.", "SOA")
    nodata(t, s, "dns-version.cluster.local.", "SOA")


def test_quirk3_pod_extra_labels(t):
    s = main()
    for n in ("x.1-2-3-4.shop.pod.cluster.local.", "x.y.1-2-3-4.shop.pod.cluster.local."):
        expect(t, s, n, "A", answer=[f"{n} 5 IN A 1.2.3.4"])


def test_quirk4_mixed_case_apex_ns(t):
    s = main()
    nodata(t, s, "Cluster.local.", "NS", zone="Cluster.local.")
    nodata(t, s, "CLUSTER.LOCAL.", "NS", zone="CLUSTER.LOCAL.")


def test_quirk7_ptr_ignores_namespace_labels(t):
    nl = harness.server("nslabels")
    # data is filtered by namespace_labels, but its PTRs are still answered
    r = rev("10.244.1.20")
    expect(t, nl, r, "PTR", answer=[f"{r} 5 IN PTR db-0.{S('db', 'data')}"])
    r = rev("10.96.200.10")
    expect(t, nl, r, "PTR", answer=[f"{r} 5 IN PTR {S('cache', 'data')}"])
    nx(t, nl, S("cache", "data"), "A")
    # `namespaces` does apply to PTR (4.5)
    ns = harness.server("namespaces")
    nx(t, ns, rev("10.96.200.10"), "PTR", zone="in-addr.arpa.")
    nx(t, ns, rev("10.244.1.20"), "PTR", zone="in-addr.arpa.")
    r = rev("10.96.100.10")
    expect(t, ns, r, "PTR", answer=[f"{r} 5 IN PTR {S('web', 'shop')}"])


# the cache plugin (issue 6)
def test_quirk10_cache_aa_and_owner_case(t):
    c = harness.server("cache")
    w = S("web", "shop")
    up = "WEB.shop.svc.cluster.local."
    # the miss fills the cache with the owner as asked ...
    expect(t, c, up, "A", answer=[f"{up} 5 IN A 10.96.100.10"])
    # ... later hits in another case keep that owner, AA=1, TTL <= 5
    expect(t, c, w, "A", answer=[f"{up} 0-5 IN A 10.96.100.10"])
    expect(t, c, w, "A", answer=[f"{up} 0-5 IN A 10.96.100.10"])
    # negative answers are cached too, AA=1 and SOA kept
    nx(t, c, S("nope", "shop"), "A")
    expect(t, c, S("nope", "shop"), "A", rcode="NXDOMAIN",
           authority=[harness.soa_rr(Z, 5).replace(" 5 IN SOA", " 0-5 IN SOA", 1)])
