"""test_records.py: positive answers of the kubernetes plugin (spec 4.5).

Server: data/main.Corefile (cluster.yaml + big.yaml, pods insecure, ttl 5,
bind 127.0.0.1).  Every expectation below is derived by hand from
cluster.yaml and the spec; comments name the rule.
"""

import dns.reversename

import harness
from harness import expect, nodata

TTL = 5


def main():
    return harness.server("main", files=("cluster.yaml", "big.yaml"))


def S(name, ns):
    return f"{name}.{ns}.svc.cluster.local."


def A(owner, ip, ttl=TTL):
    return f"{owner} {ttl} IN A {ip}"


def AAAA(owner, ip, ttl=TTL):
    return f"{owner} {ttl} IN AAAA {ip}"


def SRV(owner, weight, port, target, ttl=TTL):
    return f"{owner} {ttl} IN SRV 0 {weight} {port} {target}"


def PTR(owner, target, ttl=TTL):
    return f"{owner} {ttl} IN PTR {target}"


def rev(ip):
    return dns.reversename.from_address(ip).to_text()


WEB = S("web", "shop")


def test_clusterip_a(t):
    s = main()
    # one A per ClusterIP (4.5)
    expect(t, s, WEB, "A", answer=[A(WEB, "10.96.100.10")])
    k = S("kubernetes", "default")
    expect(t, s, k, "A", answer=[A(k, "10.96.0.1")])
    kd = S("kube-dns", "kube-system")
    expect(t, s, kd, "A", answer=[A(kd, "10.96.0.10")])
    c = S("cache", "data")
    expect(t, s, c, "A", answer=[A(c, "10.96.200.10")])
    # ClusterIP service without endpoints still answers (4.6)
    e = S("empty", "shop")
    expect(t, s, e, "A", answer=[A(e, "10.96.100.50")])
    # a service without ports has its A record
    n = S("noports", "shop")
    expect(t, s, n, "A", answer=[A(n, "10.96.100.80")])
    # two services sharing a ClusterIP each answer with it
    for tw in ("twin1", "twin2"):
        o = S(tw, "shop")
        expect(t, s, o, "A", answer=[A(o, "10.96.100.90")])
    # over TCP, with EDNS (OPT echoed), without RD (RD copied)
    expect(t, s, WEB, "A", tcp=True, answer=[A(WEB, "10.96.100.10")])
    expect(t, s, WEB, "A", edns=0, payload=1232, answer=[A(WEB, "10.96.100.10")])
    expect(t, s, WEB, "A", edns=0, payload=4096, do=True, answer=[A(WEB, "10.96.100.10")])
    expect(t, s, WEB, "A", rd=False, answer=[A(WEB, "10.96.100.10")])


def test_dual_stack(t):
    s = main()
    d = S("dual", "shop")
    # A gets the IPv4 ClusterIP, AAAA the IPv6 one (4.5, 4.9)
    expect(t, s, d, "A", answer=[A(d, "10.96.100.60")])
    expect(t, s, d, "AAAA", answer=[AAAA(d, "fd00:96::60")])
    v6 = S("v6only", "shop")
    expect(t, s, v6, "AAAA", answer=[AAAA(v6, "fd00:96::70")])
    nodata(t, s, v6, "A")
    # dual stack, one port: one SRV 0 50 80 (2 entries, same target+port
    # once) + A + AAAA glue (4.5 example)
    expect(t, s, d, "SRV", answer=[SRV(d, 50, 80, d)],
           additional=[A(d, "10.96.100.60"), AAAA(d, "fd00:96::60")])
    expect(t, s, v6, "SRV", answer=[SRV(v6, 100, 80, v6)], additional=[AAAA(v6, "fd00:96::70")])
    # named port name answers AAAA too (4.12 quirk 8)
    np = "_http._tcp." + d
    expect(t, s, np, "AAAA", answer=[AAAA(np, "fd00:96::60")])
    # endpoint names of a ClusterIP service, both families
    e4 = "10-244-1-60." + d
    expect(t, s, e4, "A", answer=[A(e4, "10.244.1.60")])
    e6 = "fd00-10-244-1--60." + d
    expect(t, s, e6, "AAAA", answer=[AAAA(e6, "fd00:10:244:1::60")])


def test_headless(t):
    s = main()
    db = S("db", "data")
    # only ready endpoints (db-3 is not ready) (4.3, 4.5)
    expect(t, s, db, "A", answer=[A(db, "10.244.1.20"), A(db, "10.244.2.21"),
                                  A(db, "10.244.3.22")])
    nodata(t, s, db, "AAAA")
    # IPv4 and IPv6 slices of one service are merged (4.9)
    nh = S("nohost", "shop")
    expect(t, s, nh, "A", answer=[A(nh, "10.244.1.30"), A(nh, "10.244.2.31")])
    expect(t, s, nh, "AAAA", answer=[AAAA(nh, "fd00:10:244:1::30"), AAAA(nh, "2001:db8:1::")])
    dup = S("dup", "shop")
    expect(t, s, dup, "A", answer=[A(dup, "10.244.1.40"), A(dup, "10.244.2.41")])
    # endpoints of every slice, also the port-less one
    mx = S("mixed", "shop")
    expect(t, s, mx, "A", answer=[A(mx, "10.244.5.1"), A(mx, "10.244.5.2"),
                                  A(mx, "10.244.5.3"), A(mx, "10.244.5.4")])
    # the same address in two slices is answered once
    ds = S("dupslice", "shop")
    expect(t, s, ds, "A", answer=[A(ds, "10.244.6.1")])
    # ready (terminating or not) yes, not ready (even if serving) no
    pn = S("podnamed", "shop")
    expect(t, s, pn, "A", answer=[A(pn, "10.244.8.1"), A(pn, "10.244.8.2"),
                                  A(pn, "10.244.8.3"), A(pn, "10.244.8.4")])
    ph = S("prodheadless", "shop")
    expect(t, s, ph, "A", answer=[A(ph, "10.244.9.1")])
    # full 120 addresses over TCP
    big = S("big", "shop")
    expect(t, s, big, "A", tcp=True,
           answer=[A(big, f"10.245.0.{i}") for i in range(1, 121)])


def test_endpoint_names(t):
    s = main()
    # hostname
    for h, ip in (("db-0", "10.244.1.20"), ("db-1", "10.244.2.21"), ("db-2", "10.244.3.22")):
        n = f"{h}.{S('db', 'data')}"
        expect(t, s, n, "A", answer=[A(n, ip)])
    n = "db-0." + S("db", "data")
    nodata(t, s, n, "AAAA")
    # dashed IPv4 (no hostname; pod name not used without endpoint_pod_names)
    for ep, svc, ip in (("10-244-1-10", "web", "10.244.1.10"), ("10-244-2-11", "web", "10.244.2.11"),
                        ("10-244-1-30", "nohost", "10.244.1.30"),
                        ("10-244-2-31", "nohost", "10.244.2.31"),
                        ("10-244-5-3", "mixed", "10.244.5.3"),
                        ("10-244-8-1", "podnamed", "10.244.8.1"),
                        ("10-244-8-4", "podnamed", "10.244.8.4"),
                        ("10-244-7-7", "beta", "10.244.7.7")):
        n = f"{ep}.{S(svc, 'shop')}"
        expect(t, s, n, "A", answer=[A(n, ip)])
    # dashed IPv6, and the trailing-dash rule: 2001:db8:1:: -> 2001-db8-1--0
    n = "fd00-10-244-1--30." + S("nohost", "shop")
    expect(t, s, n, "AAAA", answer=[AAAA(n, "fd00:10:244:1::30")])
    nodata(t, s, n, "A")
    n = "2001-db8-1--0." + S("nohost", "shop")
    expect(t, s, n, "AAAA", answer=[AAAA(n, "2001:db8:1::")])
    # hostname wins over pod name and dashed IP
    n = "named-host." + S("podnamed", "shop")
    expect(t, s, n, "A", answer=[A(n, "10.244.8.3")])
    n = "a1." + S("alpha", "shop")
    expect(t, s, n, "A", answer=[A(n, "10.244.7.7")])
    # two addresses sharing a hostname -> two A records
    n = "dup-name." + S("dup", "shop")
    expect(t, s, n, "A", answer=[A(n, "10.244.1.40"), A(n, "10.244.2.41")])


def test_srv(t):
    s = main()
    # ClusterIP, 2 ports: two SRV 0 50, one A glue (4.5 example)
    expect(t, s, WEB, "SRV", answer=[SRV(WEB, 50, 80, WEB), SRV(WEB, 50, 443, WEB)],
           additional=[A(WEB, "10.96.100.10")])
    k = S("kubernetes", "default")
    expect(t, s, k, "SRV", answer=[SRV(k, 100, 443, k)], additional=[A(k, "10.96.0.1")])
    e = S("empty", "shop")
    expect(t, s, e, "SRV", answer=[SRV(e, 100, 80, e)], additional=[A(e, "10.96.100.50")])
    # kube-dns: 3 ports -> weight 33; dns/UDP and dns-tcp/TCP share
    # (target, port 53) so that SRV appears once
    kd = S("kube-dns", "kube-system")
    expect(t, s, kd, "SRV", answer=[SRV(kd, 33, 53, kd), SRV(kd, 33, 9153, kd)],
           additional=[A(kd, "10.96.0.10")])
    # headless, 3 ready addresses x 1 port: weight floor(100/3) = 33
    db = S("db", "data")
    tg = [f"db-{i}.{db}" for i in range(3)]
    expect(t, s, db, "SRV", answer=[SRV(db, 33, 5432, x) for x in tg],
           additional=[A(tg[0], "10.244.1.20"), A(tg[1], "10.244.2.21"), A(tg[2], "10.244.3.22")])
    # an endpoint name's SRV: that address only
    expect(t, s, tg[1], "SRV", answer=[SRV(tg[1], 100, 5432, tg[1])],
           additional=[A(tg[1], "10.244.2.21")])
    # unnamed port, 4 addresses (2 per family): weight 25, dashed targets,
    # A and AAAA glue
    nh = S("nohost", "shop")
    t4a, t4b = "10-244-1-30." + nh, "10-244-2-31." + nh
    t6a, t6b = "fd00-10-244-1--30." + nh, "2001-db8-1--0." + nh
    expect(t, s, nh, "SRV", answer=[SRV(nh, 25, 9000, x) for x in (t4a, t4b, t6a, t6b)],
           additional=[A(t4a, "10.244.1.30"), A(t4b, "10.244.2.31"),
                       AAAA(t6a, "fd00:10:244:1::30"), AAAA(t6b, "2001:db8:1::")])
    # same hostname twice: N=2 -> weight 50, one SRV, two glue records
    dup = S("dup", "shop")
    dn = "dup-name." + dup
    expect(t, s, dup, "SRV", answer=[SRV(dup, 50, 80, dn)],
           additional=[A(dn, "10.244.1.40"), A(dn, "10.244.2.41")])
    # port-less entries count in N (2 with port 80 + 2 sentinel = 4 -> 25)
    # but produce no SRV and no glue (4.5, 4.12 quirk 5)
    mx = S("mixed", "shop")
    m1, m2 = "10-244-5-1." + mx, "10-244-5-2." + mx
    expect(t, s, mx, "SRV", answer=[SRV(mx, 25, 80, m1), SRV(mx, 25, 80, m2)],
           additional=[A(m1, "10.244.5.1"), A(m2, "10.244.5.2")])
    # duplicates count in N (same address in 2 slices: 50) but appear once
    ds = S("dupslice", "shop")
    d1 = "10-244-6-1." + ds
    expect(t, s, ds, "SRV", answer=[SRV(ds, 50, 80, d1)], additional=[A(d1, "10.244.6.1")])
    # hostname / dashed / 64-char pod name (not used) targets
    pn = S("podnamed", "shop")
    pt = ["10-244-8-1." + pn, "10-244-8-2." + pn, "named-host." + pn, "10-244-8-4." + pn]
    expect(t, s, pn, "SRV", answer=[SRV(pn, 25, 80, x) for x in pt],
           additional=[A(pt[0], "10.244.8.1"), A(pt[1], "10.244.8.2"),
                       A(pt[2], "10.244.8.3"), A(pt[3], "10.244.8.4")])
    # 120 entries: floor(100/120) = 0 -> minimum 1 (over TCP: it is big)
    big = S("big", "shop")
    bt = [f"10-245-0-{i}.{big}" for i in range(1, 121)]
    expect(t, s, big, "SRV", tcp=True, answer=[SRV(big, 1, 80, x) for x in bt],
           additional=[A(x, f"10.245.0.{i}") for i, x in enumerate(bt, 1)])


def test_named_ports(t):
    s = main()
    n = "_http._tcp." + WEB
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 80, WEB)], additional=[A(WEB, "10.96.100.10")])
    n = "_https._tcp." + WEB
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 443, WEB)], additional=[A(WEB, "10.96.100.10")])
    # port and protocol match case-insensitively; the owner is echoed
    n = "_HTTP._TCP." + WEB
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 80, WEB)], additional=[A(WEB, "10.96.100.10")])
    # underscores are optional with two extra labels (4.4)
    n = "http.tcp." + WEB
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 80, WEB)], additional=[A(WEB, "10.96.100.10")])
    kd = S("kube-dns", "kube-system")
    n = "_dns._udp." + kd
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 53, kd)], additional=[A(kd, "10.96.0.10")])
    n = "_dns-tcp._tcp." + kd
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 53, kd)], additional=[A(kd, "10.96.0.10")])
    n = "_metrics._tcp." + kd
    expect(t, s, n, "SRV", answer=[SRV(n, 100, 9153, kd)], additional=[A(kd, "10.96.0.10")])
    # headless named port: endpoint targets, endpoint-slice port
    db = S("db", "data")
    n = "_postgres._tcp." + db
    tg = [f"db-{i}.{db}" for i in range(3)]
    expect(t, s, n, "SRV", answer=[SRV(n, 33, 5432, x) for x in tg],
           additional=[A(tg[0], "10.244.1.20"), A(tg[1], "10.244.2.21"), A(tg[2], "10.244.3.22")])
    dup = S("dup", "shop")
    n = "_http._tcp." + dup
    expect(t, s, n, "SRV", answer=[SRV(n, 50, 80, "dup-name." + dup)],
           additional=[A("dup-name." + dup, "10.244.1.40"), A("dup-name." + dup, "10.244.2.41")])
    # A queries on named-port names answer the addresses (4.12 quirk 8)
    n = "_http._tcp." + WEB
    expect(t, s, n, "A", answer=[A(n, "10.96.100.10")])
    nodata(t, s, n, "AAAA")
    n = "_dns._udp." + kd
    expect(t, s, n, "A", answer=[A(n, "10.96.0.10")])
    n = "_postgres._tcp." + db
    expect(t, s, n, "A", answer=[A(n, "10.244.1.20"), A(n, "10.244.2.21"), A(n, "10.244.3.22")])


def test_ptr(t):
    s = main()
    # ClusterIPs -> svc.ns.svc.<primary zone> (4.5)
    for ip, target in (("10.96.100.10", WEB), ("10.96.0.1", S("kubernetes", "default")),
                       ("10.96.0.10", S("kube-dns", "kube-system")),
                       ("10.96.100.50", S("empty", "shop")),
                       ("10.96.100.60", S("dual", "shop")), ("fd00:96::60", S("dual", "shop")),
                       ("fd00:96::70", S("v6only", "shop")),
                       ("10.96.200.10", S("cache", "data"))):
        expect(t, s, rev(ip), "PTR", answer=[PTR(rev(ip), target)])
    # endpoint IPs -> <endpoint name>.svc.ns.svc.<primary zone>
    for ip, target in (("10.244.1.10", "10-244-1-10." + WEB),
                       ("10.244.1.20", "db-0." + S("db", "data")),
                       ("10.244.1.30", "10-244-1-30." + S("nohost", "shop")),
                       ("fd00:10:244:1::30", "fd00-10-244-1--30." + S("nohost", "shop")),
                       ("2001:db8:1::", "2001-db8-1--0." + S("nohost", "shop")),
                       ("10.244.8.3", "named-host." + S("podnamed", "shop")),
                       ("10.244.5.3", "10-244-5-3." + S("mixed", "shop")),
                       ("10.244.6.1", "10-244-6-1." + S("dupslice", "shop")),
                       ("10.244.1.60", "10-244-1-60." + S("dual", "shop"))):
        expect(t, s, rev(ip), "PTR", answer=[PTR(rev(ip), target)])
    # two addresses with one hostname: each IP gives the same name
    for ip in ("10.244.1.40", "10.244.2.41"):
        expect(t, s, rev(ip), "PTR", answer=[PTR(rev(ip), "dup-name." + S("dup", "shop"))])
    # one IP in two services -> two PTRs
    r = rev("10.244.7.7")
    expect(t, s, r, "PTR", answer=[PTR(r, "a1." + S("alpha", "shop")),
                                   PTR(r, "10-244-7-7." + S("beta", "shop"))])
    # owner echoed as sent; target uses the configured primary zone
    r = "10.100.96.10.IN-ADDR.ARPA."
    expect(t, s, r, "PTR", answer=[PTR(r, WEB)])
    # two services with one ClusterIP: only the first one (4.12 quirk 9)
    r = rev("10.96.100.90")
    q, wire = harness.query(s, r, "PTR")
    ok = False
    detail = "no reply"
    if wire:
        m = harness.parse(wire)
        got = harness.rr_tuples(m.answer)
        ok = (m.rcode() == 0 and len(got) == 1 and got[0][3] == "PTR"
              and got[0][4] in (S("twin1", "shop"), S("twin2", "shop")) and got[0][0] == r)
        detail = "answer: " + "; ".join(harness.fmt_rr(g) for g in got)
    t.record(ok, f"main: {r} PTR -> exactly one PTR, twin1 or twin2", [detail], query=True)


def test_externalname(t):
    s = main()
    ext = S("ext", "shop")
    # CNAME query: just the CNAME (4.5)
    expect(t, s, ext, "CNAME", answer=[f"{ext} 5 IN CNAME {WEB}"])
    # A: CNAME, then the in-zone target resolved internally
    expect(t, s, ext, "A", ordered=True,
           answer=[f"{ext} 5 IN CNAME {WEB}", A(WEB, "10.96.100.10")])
    # owner echoes the query's case; the target comes from the object
    up = "EXT.shop.svc.cluster.local."
    expect(t, s, up, "CNAME", answer=[f"{up} 5 IN CNAME {WEB}"])
    out = S("extout", "shop")
    expect(t, s, out, "CNAME", answer=[f"{out} 5 IN CNAME example.com."])
    # out-of-zone target: re-sent through this server, which has no zone
    # for example.com (REFUSED, empty); the empty answer is appended
    expect(t, s, out, "A", answer=[f"{out} 5 IN CNAME example.com."])


def test_apex_soa_txt(t):
    s = main()
    soa = harness.soa_rr
    expect(t, s, "cluster.local.", "SOA", answer=[soa("cluster.local.", TTL)])
    # SOA names use the query's spelling of the zone (4.9)
    expect(t, s, "Cluster.Local.", "SOA", answer=[soa("Cluster.Local.", TTL)])
    expect(t, s, "in-addr.arpa.", "SOA", answer=[soa("in-addr.arpa.", TTL)])
    expect(t, s, "ip6.arpa.", "SOA", answer=[soa("ip6.arpa.", TTL)])
    expect(t, s, "cluster.local.", "SOA", tcp=True, answer=[soa("cluster.local.", TTL)])
    # the only TXT record, TTL 28800
    expect(t, s, "dns-version.cluster.local.", "TXT",
           answer=['dns-version.cluster.local. 28800 IN TXT "1.1.0"'])
    expect(t, s, "DNS-Version.cluster.local.", "TXT",
           answer=['DNS-Version.cluster.local. 28800 IN TXT "1.1.0"'])


def test_ns_loopback_only(t):
    s = main()
    # bound to 127.0.0.1 only: loopback is never an own address, so there
    # is no usable IP -> NODATA (4.5)
    nodata(t, s, "cluster.local.", "NS")
    nodata(t, s, "ns.dns.cluster.local.", "A")
    nodata(t, s, "ns.dns.cluster.local.", "AAAA")


def test_ns_own_ip_in_kube_dns(t):
    ip = harness.host_ipv4()
    if not ip:
        harness.skip("no non-loopback IPv4 address to bind")
    s = harness.server("nsself", files=("cluster.yaml", "nsself.yaml"),
                       subst={"HOST_IP": ip})
    kd = S("kube-dns", "kube-system")
    # own IP is an endpoint of kube-dns (ClusterIP): NS kube-dns + glue = its
    # ClusterIP; `namespaces shop` does not apply to NS (4.12 quirk 7)
    expect(t, s, "cluster.local.", "NS", answer=[f"cluster.local. 5 IN NS {kd}"],
           additional=[A(kd, "10.96.0.10")])
    expect(t, s, "ns.dns.cluster.local.", "A", answer=[A("ns.dns.cluster.local.", "10.96.0.10")])
    nodata(t, s, "ns.dns.cluster.local.", "AAAA")
    # ... while kube-system names are hidden by `namespaces shop`
    harness.nx(t, s, kd, "A")
    # mixed-case apex NS -> NODATA (4.9, 4.12 quirk 4)
    nodata(t, s, "Cluster.local.", "NS", zone="Cluster.local.")


def test_ns_own_ip_fallback(t):
    ip = harness.host_ipv4()
    if not ip:
        harness.skip("no non-loopback IPv4 address to bind")
    s = harness.server("nsown", files=("cluster.yaml",), subst={"HOST_IP": ip})
    # own IP in no slice: NS ns.dns.<zone>, glue = own IP (4.5)
    expect(t, s, "cluster.local.", "NS", answer=["cluster.local. 5 IN NS ns.dns.cluster.local."],
           additional=[A("ns.dns.cluster.local.", ip)])
    expect(t, s, "ns.dns.cluster.local.", "A", answer=[A("ns.dns.cluster.local.", ip)])
    nodata(t, s, "Cluster.local.", "NS", zone="Cluster.local.")
