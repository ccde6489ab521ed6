#!/usr/bin/python3
"""test_fakeapi.py: self-test of the fake Kubernetes API server: API
semantics (discovery, list, pagination, selectors, watch, bookmarks,
timeouts, 410s, Status objects) and every injected fault, over real HTTP
on 127.0.0.1, plus the standalone process and its /_control/ interface.

    /usr/bin/python3 tests/fakeapi/test_fakeapi.py [-v] [-k WORD]

Exit status 0 when every check passed, 1 otherwise.  Runs in < 30 s.
Expectations are the kube-apiserver behaviours of
shared/spec/kubernetes-api-and-stale.md section 2 and the API conventions
(Status objects, chunked watch streams, resourceVersion semantics).
"""

import argparse
import base64
import gzip
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakeapi  # noqa: E402

HOST = "127.0.0.1"
VERBOSE = False
TEST_TIMEOUT = 15  # seconds per test (SIGALRM)


# ---------------------------------------------------------------- checks

class T:
    """Soft checks of one test."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failures = []

    def check(self, cond, desc, detail=""):
        if cond:
            self.passed += 1
            if VERBOSE:
                print(f"    ok   {desc}")
        else:
            self.failures.append(desc)
            print(f"    FAIL {desc}" + (f"\n        {detail}" if detail else ""))
        return bool(cond)

    def eq(self, got, want, desc):
        return self.check(got == want, desc, f"got {got!r}, want {want!r}")


# ---------------------------------------------------------------- HTTP helpers

def request(port, path, headers=None, timeout=5.0, method="GET"):
    """One request on a fresh connection: (status, headers dict, body)."""
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def get_json(port, path, headers=None, timeout=5.0):
    st, hd, body = request(port, path, headers, timeout)
    if hd.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return st, hd, json.loads(body) if body else None


class Stream:
    """A raw-socket watch client: sees exactly how the stream ends
    ("clean" = terminating chunk, "eof" = closed mid-stream, "reset")."""

    def __init__(self, port, path, headers=None, timeout=5.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        hdrs = {"Host": f"{HOST}:{port}", "User-Agent": "fakeapi-selftest/1"}
        hdrs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.end = None
        head = self._until(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = None
        if self.headers.get("transfer-encoding") != "chunked":
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            self.body = self.buf[:n]

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            self.end = "reset"
            raise EOFError("reset")
        if not d:
            self.end = "eof"
            raise EOFError("eof")
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def event(self, timeout=3.0):
        """Next watch event (dict); raises EOFError at the end of the stream
        (self.end tells how) and socket.timeout if nothing comes."""
        self.sock.settimeout(timeout)
        size = int(self._until(b"\r\n"), 16)
        if size == 0:
            self._until(b"\r\n")
            self.end = "clean"
            raise EOFError("clean")
        while len(self.buf) < size + 2:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        if not data.endswith(b"\n") or data.count(b"\n") != 1:
            raise AssertionError(f"watch chunk is not one JSON line: {data[:80]!r}")
        return json.loads(data)

    def events(self, n, timeout=3.0):
        return [self.event(timeout) for _ in range(n)]

    def drain(self, timeout=3.0):
        """Events until the stream ends; returns (events, how it ended)."""
        out = []
        try:
            while True:
                out.append(self.event(timeout))
        except EOFError:
            pass
        except socket.timeout:
            self.end = "timeout"
        return out, self.end

    def quiet(self, seconds):
        """True if no event arrives within seconds."""
        try:
            self.event(seconds)
            return False
        except socket.timeout:
            return True
        except EOFError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- fixtures

def svc(name, ns="shop", ip="10.96.0.100", labels=None, **spec):
    s = {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": ns},
         "spec": dict({"clusterIP": ip, "ports": [{"port": 80, "protocol": "TCP"}]}, **spec)}
    if labels:
        s["metadata"]["labels"] = labels
    return s


def pod(name, ns, phase, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "node-1"},
            "status": {"phase": phase, "podIP": "10.244.0.1"}}


BASE = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "shop"}}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    svc("web", labels={"app": "web", "env": "prod"}),
    svc("api", labels={"app": "api", "env": "dev"}, ip="10.96.0.101"),
    svc("canary", labels={"app": "web", "env": "canary", "tier": "1"}, ip="10.96.0.102"),
    svc("db", ns="data", ip="None", labels={"app": "db"}),
    svc("cache", ns="data", ip="10.96.0.103"),
    svc("kubernetes", ns="default", ip="10.96.0.1"),
    svc("ext", ns="shop", ip="", type="ExternalName", externalName="example.com"),
    pod("web-1", "shop", "Running", {"app": "web"}),
    pod("web-2", "shop", "Pending", {"app": "web"}),
    pod("job-1", "data", "Succeeded"),
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "web-abc", "namespace": "shop",
                  "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv4", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
     "endpoints": [{"addresses": ["10.244.1.1"], "conditions": {"ready": True}}]},
]


def new_api(**kw):
    kw.setdefault("bookmark_interval", 0.3)
    api = fakeapi.FakeAPI(**kw)
    api.load(BASE)
    api.start()
    return api


def names(items):
    return sorted(f"{(i['metadata'].get('namespace') or '')}/{i['metadata']['name']}" for i in items)


def is_status(t, body, code, reason, what):
    t.check(isinstance(body, dict) and body.get("kind") == "Status" and body.get("apiVersion") == "v1"
            and body.get("status") == "Failure" and body.get("code") == code
            and body.get("reason") == reason and isinstance(body.get("message"), str),
            f"{what}: Status code {code} reason {reason}", f"got {body!r:.300}")


# ---------------------------------------------------------------- tests: API semantics

def test_discovery(t, api):
    p = api.port
    st, _, v = get_json(p, "/version")
    t.check(st == 200 and v.get("major") == "1" and v.get("gitVersion", "").startswith("v1."),
            "/version", repr(v))
    st, _, a = get_json(p, "/api")
    t.check(st == 200 and a.get("kind") == "APIVersions" and a.get("versions") == ["v1"], "/api APIVersions")
    st, _, rl = get_json(p, "/api/v1")
    rs = {r["name"]: r for r in rl.get("resources", [])}
    t.check(st == 200 and rl.get("kind") == "APIResourceList" and rl.get("groupVersion") == "v1",
            "/api/v1 APIResourceList")
    t.eq(sorted(rs), ["endpoints", "namespaces", "pods", "services"], "/api/v1 resources")
    t.check(rs.get("namespaces", {}).get("namespaced") is False and rs.get("services", {}).get("namespaced") is True
            and "svc" in rs.get("services", {}).get("shortNames", []), "namespaced flags, short names")
    t.check(all(set(r["verbs"]) >= {"get", "list", "watch"} for r in rs.values()), "verbs get/list/watch")
    st, _, g = get_json(p, "/apis")
    t.check(st == 200 and g.get("kind") == "APIGroupList"
            and [x["name"] for x in g.get("groups", [])] == ["discovery.k8s.io"], "/apis APIGroupList")
    st, _, g1 = get_json(p, "/apis/discovery.k8s.io")
    t.check(st == 200 and g1.get("kind") == "APIGroup"
            and g1.get("preferredVersion", {}).get("groupVersion") == "discovery.k8s.io/v1", "/apis/discovery.k8s.io")
    st, _, d = get_json(p, "/apis/discovery.k8s.io/v1")
    t.check(st == 200 and [r["name"] for r in d.get("resources", [])] == ["endpointslices"],
            "/apis/discovery.k8s.io/v1 endpointslices")
    agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    st, hd, ag = get_json(p, "/apis", {"Accept": agg})
    t.check(st == 200 and "as=APIGroupDiscoveryList" in hd.get("content-type", "")
            and ag.get("kind") == "APIGroupDiscoveryList"
            and ag["items"][0]["versions"][0]["resources"][0]["resource"] == "endpointslices",
            "aggregated discovery v2 on /apis", f"{hd.get('content-type')} {ag!r:.200}")
    api.configure(aggregated_discovery=False)
    st, hd, ag = get_json(p, "/apis", {"Accept": agg})
    t.check(st == 200 and hd.get("content-type") == "application/json" and ag.get("kind") == "APIGroupList",
            "legacy mode answers plain APIGroupList to a v2 Accept (client falls back)")
    api.configure(aggregated_discovery=True)
    st, _, b = get_json(p, "/api/v1/services", {"Accept": "application/vnd.kubernetes.protobuf"})
    t.eq(st, 406, "protobuf-only Accept -> 406")
    is_status(t, b, 406, "NotAcceptable", "406 body")
    st, _, _ = request(p, "/openapi/v2")
    t.eq(st, 404, "/openapi/v2 -> 404")
    st, _, b = get_json(p, "/api/v1/configmaps")
    t.eq(st, 404, "unserved resource -> 404")
    is_status(t, b, 404, "NotFound", "404 body")


def test_list_get(t, api):
    p = api.port
    st, _, l = get_json(p, "/api/v1/services")
    t.eq(st, 200, "list services")
    t.check(l.get("kind") == "ServiceList" and l.get("apiVersion") == "v1"
            and l["metadata"].get("resourceVersion") == api.resource_version, "ServiceList with list RV",
            repr(l.get("metadata")))
    t.eq(names(l["items"]), ["data/cache", "data/db", "default/kubernetes", "shop/api", "shop/canary",
                             "shop/ext", "shop/web"], "all namespaces, key order")
    t.check(all("kind" not in i and "apiVersion" not in i for i in l["items"]), "list items carry no kind")
    md = l["items"][0]["metadata"]
    t.check(md.get("uid") and md.get("creationTimestamp") and md.get("resourceVersion", "").isdigit(),
            "uid, creationTimestamp, resourceVersion filled", repr(md))
    rvs = [int(i["metadata"]["resourceVersion"]) for i in l["items"]]
    t.check(len(set(rvs)) == len(rvs) and max(rvs) <= int(api.resource_version), "distinct RVs <= list RV")
    st, _, l = get_json(p, "/api/v1/namespaces/data/services")
    t.eq(names(l["items"]), ["data/cache", "data/db"], "namespaced list")
    st, _, l = get_json(p, "/api/v1/namespaces/nosuch/services")
    t.check(st == 200 and l["items"] == [], "list in a missing namespace: empty 200")
    st, _, l = get_json(p, "/apis/discovery.k8s.io/v1/endpointslices")
    t.check(st == 200 and l.get("kind") == "EndpointSliceList" and l.get("apiVersion") == "discovery.k8s.io/v1"
            and names(l["items"]) == ["shop/web-abc"], "endpointslices list")
    st, _, l = get_json(p, "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices")
    t.eq(names(l["items"]), ["shop/web-abc"], "namespaced endpointslices")
    st, _, l = get_json(p, "/api/v1/namespaces")
    t.check(st == 200 and l.get("kind") == "NamespaceList"
            and names(l["items"]) == ["/data", "/default", "/shop"]
            and l["items"][0]["status"]["phase"] == "Active"
            and l["items"][0]["metadata"]["labels"]["kubernetes.io/metadata.name"] == "data",
            "namespaces: cluster-scoped, phase and name label", repr(l)[:300])
    st, _, o = get_json(p, "/api/v1/namespaces/shop/services/web")
    t.check(st == 200 and o.get("kind") == "Service" and o.get("apiVersion") == "v1"
            and o["metadata"]["name"] == "web" and o["spec"]["clusterIP"] == "10.96.0.100", "get by name")
    st, _, o = get_json(p, "/api/v1/namespaces/shop")
    t.check(st == 200 and o.get("kind") == "Namespace" and o["metadata"]["name"] == "shop", "get namespace")
    st, _, o = get_json(p, "/api/v1/namespaces/shop/services/nosuch")
    t.eq(st, 404, "get missing -> 404")
    is_status(t, o, 404, "NotFound", "get missing")
    t.check(o.get("details", {}).get("name") == "nosuch" and o.get("details", {}).get("kind") == "services"
            and o.get("message") == 'services "nosuch" not found', "NotFound details/message", repr(o))
    st, _, o = get_json(p, "/api/v1/namespaces/shop/services",
                        {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    t.check(st == 200 and o.get("kind") == "Table" and o["columnDefinitions"][0]["name"] == "Name"
            and [r["cells"][0] for r in o["rows"]] == ["api", "canary", "ext", "web"]
            and o["rows"][0]["object"]["kind"] == "PartialObjectMetadata", "Table output", repr(o)[:300])
    st, _, o = get_json(p, "/api/v1/namespaces/shop/services?includeObject=Object",
                        {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    t.check(o["rows"][0]["object"].get("kind") == "Service" and "spec" in o["rows"][0]["object"],
            "Table includeObject=Object")
    st, _, o = get_json(p, "/api/v1/services?limit=1",
                        {"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    t.check(st == 200 and o.get("kind") == "PartialObjectMetadataList" and len(o["items"]) == 1
            and "spec" not in o["items"][0], "PartialObjectMetadataList")
    st, _, b = request(p, "/api/v1/namespaces/shop/services/web", method="DELETE")
    t.eq(st, 405, "writes are refused (405)")


def test_selectors(t, api):
    p = api.port

    def sel(q, path="/api/v1/services"):
        st, _, l = get_json(p, path + "?" + q)
        return names(l["items"]) if st == 200 else st
    t.eq(sel("labelSelector=app%3Dweb"), ["shop/canary", "shop/web"], "label =")
    t.eq(sel("labelSelector=app%3D%3Dweb"), ["shop/canary", "shop/web"], "label ==")
    t.eq(sel("labelSelector=app!%3Dweb"), ["data/cache", "data/db", "default/kubernetes", "shop/api", "shop/ext"],
         "label != (absent key matches)")
    t.eq(sel("labelSelector=env+in+(prod,dev)"), ["shop/api", "shop/web"], "label in")
    t.eq(sel("labelSelector=env+notin+(prod,dev)"),
         ["data/cache", "data/db", "default/kubernetes", "shop/canary", "shop/ext"], "label notin")
    t.eq(sel("labelSelector=env"), ["shop/api", "shop/canary", "shop/web"], "label exists")
    t.eq(sel("labelSelector=!env"), ["data/cache", "data/db", "default/kubernetes", "shop/ext"], "label !exists")
    t.eq(sel("labelSelector=app%3Dweb,env!%3Dprod"), ["shop/canary"], "label AND")
    t.eq(sel("labelSelector=tier>0"), ["shop/canary"], "label gt")
    t.eq(sel("labelSelector=app+in+(web"), 400, "bad label selector -> 400")
    t.eq(sel("fieldSelector=metadata.name%3Dweb"), ["shop/web"], "field metadata.name")
    t.eq(sel("fieldSelector=metadata.namespace!%3Dshop"), ["data/cache", "data/db", "default/kubernetes"],
         "field metadata.namespace !=")
    t.eq(sel("fieldSelector=spec.type%3DExternalName"), ["shop/ext"], "field spec.type")
    t.eq(sel("fieldSelector=status.phase!%3DRunning", "/api/v1/pods"), ["data/job-1", "shop/web-2"],
         "pods status.phase!=Running")
    t.eq(sel("fieldSelector=status.phase!%3DSucceeded,status.phase!%3DFailed", "/api/v1/pods"),
         ["shop/web-1", "shop/web-2"], "pods two != terms")
    t.eq(sel("fieldSelector=spec.nodeName%3Dnode-1", "/api/v1/pods"), ["data/job-1", "shop/web-1", "shop/web-2"],
         "pods spec.nodeName")
    st, _, b = get_json(p, "/api/v1/services?fieldSelector=spec.foo%3Dx")
    t.eq(st, 400, "unknown field -> 400")
    is_status(t, b, 400, "BadRequest", "unknown field")
    t.eq(sel("labelSelector=team%3Dshop", "/api/v1/namespaces"), ["/shop"], "namespace labels")


def follow_pages(p, path):
    pages, items, tok = [], [], None
    for _ in range(50):
        url = path + ("&continue=" + tok if tok else "")
        st, _, l = get_json(p, url)
        if st != 200:
            return pages, items, st, l
        pages.append(l)
        items += l["items"]
        tok = l["metadata"].get("continue")
        if not tok:
            break
    return pages, items, 200, None


def test_pagination(t, api):
    p = api.port
    _, _, full = get_json(p, "/api/v1/services")
    pages, items, st, _ = follow_pages(p, "/api/v1/services?limit=3")
    t.eq([len(x["items"]) for x in pages], [3, 3, 1], "limit=3 pages of 7")
    t.eq(names(items), names(full["items"]), "pages concatenate to the full list")
    t.eq([x["metadata"].get("remainingItemCount") for x in pages], [4, 1, None], "remainingItemCount")
    t.check(len({x["metadata"]["resourceVersion"] for x in pages}) == 1, "every page carries the list RV")
    tok = pages[0]["metadata"]["continue"]
    raw = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
    t.check(raw.get("rv") == int(full["metadata"]["resourceVersion"]) and raw.get("start", "").endswith("\x00"),
            "continue token encodes list RV + start key", repr(raw))

    # consistent snapshot: changes after page 1 are invisible to later pages
    st, _, l1 = get_json(p, "/api/v1/services?limit=3")
    api.apply(svc("zzz-new", ns="shop", ip="10.96.0.200"))
    api.delete("services", "kubernetes", "default")
    api.apply(svc("web", labels={"app": "web"}, ip="10.96.0.250"))
    rest = []
    tok = l1["metadata"]["continue"]
    while tok:
        st, _, l = get_json(p, "/api/v1/services?limit=3&continue=" + tok)
        rest += l["items"]
        tok = l["metadata"].get("continue")
    allnames = names(l1["items"] + rest)
    t.check("default/kubernetes" in allnames and "shop/zzz-new" not in allnames,
            "later pages show the snapshot at the list RV", repr(allnames))
    web = [i for i in rest if i["metadata"]["name"] == "web"]
    t.check(web and web[0]["spec"]["clusterIP"] == "10.96.0.100", "modified object shown as of the list RV")
    st, _, l = get_json(p, "/api/v1/services")
    t.check("shop/zzz-new" in names(l["items"]) and "default/kubernetes" not in names(l["items"]),
            "a new list sees the changes")

    st, _, b = get_json(p, "/api/v1/services?limit=3&resourceVersion=5&continue=" + l1["metadata"]["continue"])
    t.eq(st, 400, "continue + resourceVersion -> 400")
    st, _, b = get_json(p, "/api/v1/services?limit=2&continue=bm90LWEtdG9rZW4")
    t.eq(st, 400, "garbage continue -> 400")
    st, _, l = get_json(p, "/api/v1/services?limit=2&resourceVersion=0")
    t.check(st == 200 and len(l["items"]) == 7 and not l["metadata"].get("continue"),
            "resourceVersion=0 served from cache ignores limit", repr(l["metadata"]))
    api.configure(paginate_rv0=True)
    st, _, l = get_json(p, "/api/v1/services?limit=2&resourceVersion=0")
    t.check(len(l["items"]) == 2 and l["metadata"].get("continue"), "paginate_rv0 honours limit")
    api.configure(paginate_rv0=False)
    # selectors + paging: pages hold up to limit matches
    pages, items, st, _ = follow_pages(p, "/api/v1/services?limit=1&labelSelector=app%3Dweb")
    t.eq(names(items), ["shop/canary", "shop/web"], "paged selector list")
    t.check(all(x["metadata"].get("remainingItemCount") is None for x in pages),
            "no remainingItemCount with a selector")


def test_resource_version_semantics(t, api):
    p = api.port
    rv_before = int(api.resource_version)
    api.delete("services", "cache", "data")
    st, _, l = get_json(p, f"/api/v1/services?resourceVersion={rv_before}&resourceVersionMatch=Exact")
    t.check(st == 200 and "data/cache" in names(l["items"]) and l["metadata"]["resourceVersion"] == str(rv_before),
            "Exact RV list = snapshot at that RV")
    st, _, l = get_json(p, f"/api/v1/services?resourceVersion={rv_before}&resourceVersionMatch=NotOlderThan")
    t.check(st == 200 and "data/cache" not in names(l["items"]), "NotOlderThan serves current state")
    api.too_large_wait = 0.3
    st, _, b = get_json(p, f"/api/v1/services?resourceVersion={rv_before + 1000}")
    t.eq(st, 504, "future RV -> 504 after waiting")
    t.check(b.get("details", {}).get("causes", [{}])[0].get("reason") == "ResourceVersionTooLarge",
            "ResourceVersionTooLarge cause", repr(b))
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rv_before + 1000}")
    t.check(w.status == 504 and json.loads(w.body).get("details", {}).get("causes", [{}])[0].get("reason")
            == "ResourceVersionTooLarge", "watch from a future RV -> 504 ResourceVersionTooLarge")
    w.close()
    st, _, b = get_json(p, "/api/v1/services?resourceVersionMatch=Exact")
    t.eq(st, 422, "resourceVersionMatch without RV -> 422")
    api.compact()
    st, _, b = get_json(p, f"/api/v1/services?resourceVersion={rv_before}&resourceVersionMatch=Exact")
    t.eq(st, 410, "Exact list at a compacted RV -> 410")
    is_status(t, b, 410, "Expired", "compacted exact list")


def test_watch_events(t, api):
    p = api.port
    st, _, l = get_json(p, "/api/v1/services")
    rv = l["metadata"]["resourceVersion"]
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rv}")
    wns = Stream(p, f"/api/v1/namespaces/data/services?watch=true&resourceVersion={rv}")
    wsel = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rv}&labelSelector=app%3Dweb")
    try:
        t.check(w.status == 200 and w.headers.get("transfer-encoding") == "chunked"
                and w.headers.get("content-type") == "application/json", "watch: 200 chunked JSON", repr(w.headers))
        t.check(w.quiet(0.3), "no events before a change")
        a = api.apply(svc("new", ns="data", ip="10.96.0.50", labels={"app": "web"}))
        api.apply(svc("new", ns="data", ip="10.96.0.50", labels={"app": "other"}))
        api.delete("services", "new", "data")
        api.apply(svc("x", ns="shop", ip="10.96.0.51"))
        evs = w.events(4)
        t.eq([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED", "ADDED"], "event types in order")
        t.check(all(e["object"].get("kind") == "Service" and e["object"].get("apiVersion") == "v1" for e in evs),
                "event objects carry kind/apiVersion")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        t.check(rvs == sorted(rvs) and len(set(rvs)) == 4 and rvs[0] == int(a["metadata"]["resourceVersion"]),
                "event RVs increase", repr(rvs))
        t.eq([e["type"] for e in wns.events(3)], ["ADDED", "MODIFIED", "DELETED"], "namespaced watch")
        t.check(wns.quiet(0.3), "namespaced watch: other namespaces filtered")
        got = wsel.events(2)
        t.eq([e["type"] for e in got], ["ADDED", "DELETED"],
             "selector watch: leaving the selector is DELETED")
        t.check(wsel.quiet(0.3), "selector watch: later non-matching events filtered")
    finally:
        for s in (w, wns, wsel):
            s.close()
    # resume from an RV in the middle of history
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rvs[1]}")
    t.eq([e["type"] for e in w.events(2)], ["DELETED", "ADDED"], "resume from a past RV replays later events")
    w.close()
    # RV=0 and unset: synthetic ADDED for the current state first
    for q in ("resourceVersion=0", ""):
        w = Stream(p, f"/api/v1/namespaces/data/services?watch=1&{q}")
        evs = w.events(2)
        t.check([e["type"] for e in evs] == ["ADDED", "ADDED"]
                and names(e["object"] for e in evs) == ["data/cache", "data/db"] and w.quiet(0.3),
                f"watch {q or 'without RV'}: synthetic ADDED of current objects")
        w.close()
    # watch of one object by name
    w = Stream(p, f"/api/v1/watch/namespaces/shop/services/web?resourceVersion={api.resource_version}")
    api.apply(svc("api", ip="10.96.0.101", labels={"app": "api"}))
    api.apply(svc("web", ip="10.96.0.100", labels={"app": "web", "x": "y"}))
    e = w.event()
    t.check(e["type"] == "MODIFIED" and e["object"]["metadata"]["name"] == "web", "legacy /watch/ path by name")
    w.close()
    # Table watch (kubectl get -w)
    w = Stream(p, f"/api/v1/namespaces/shop/services?watch=1&resourceVersion={api.resource_version}",
               {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    api.apply(svc("tbl", ip="10.96.0.77"))
    e = w.event()
    t.check(e["type"] == "ADDED" and e["object"].get("kind") == "Table"
            and e["object"]["rows"][0]["cells"][:3] == ["tbl", "ClusterIP", "10.96.0.77"], "Table watch event",
            repr(e)[:300])
    w.close()
    # sendInitialEvents (WatchList): ADDED..., then a BOOKMARK with the initial-events-end annotation
    w = Stream(p, "/api/v1/namespaces/data/services?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                  "&resourceVersionMatch=NotOlderThan")
    evs = w.events(3)
    t.check([e["type"] for e in evs] == ["ADDED", "ADDED", "BOOKMARK"]
            and evs[2]["object"]["metadata"].get("annotations", {}).get("k8s.io/initial-events-end") == "true",
            "sendInitialEvents ends with an annotated BOOKMARK", repr(evs[-1]))
    w.close()


def test_bookmarks_and_timeout(t, api):
    p = api.port
    rv = api.resource_version
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rv}&allowWatchBookmarks=true")
    try:
        t0 = time.monotonic()
        e = w.event(2.0)
        dt = time.monotonic() - t0
        t.check(e["type"] == "BOOKMARK" and e["object"].get("kind") == "Service"
                and e["object"]["metadata"]["resourceVersion"] == rv, "BOOKMARK with the current RV", repr(e))
        t.check(0.15 <= dt <= 1.0, f"bookmark interval ~0.3 s (got {dt:.2f})")
        api.apply(pod("p-other", "shop", "Running"))  # another resource moves the global RV
        e = w.event(2.0)
        t.check(e["type"] == "BOOKMARK" and int(e["object"]["metadata"]["resourceVersion"]) > int(rv),
                "bookmark RV follows changes to other resources", repr(e))
    finally:
        w.close()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    t.check(w.quiet(0.8), "no bookmarks without allowWatchBookmarks")
    w.close()
    t0 = time.monotonic()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}&timeoutSeconds=1")
    evs, end = w.drain(3.0)
    dt = time.monotonic() - t0
    t.check(end == "clean" and 0.9 <= dt <= 2.0 and evs == [],
            f"timeoutSeconds=1 ends the stream cleanly ({end}, {dt:.2f}s)")
    w.close()
    api.configure(bookmark_interval=30)
    t0 = time.monotonic()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}&timeoutSeconds=2"
                  "&allowWatchBookmarks=true")
    evs, end = w.drain(3.0)
    dt = time.monotonic() - t0
    t.check([e["type"] for e in evs] == ["BOOKMARK"] and end == "clean" and 1.9 <= dt <= 3.0,
            f"one BOOKMARK just before the deadline, then a clean end ({[e['type'] for e in evs]}, {dt:.2f}s)")
    w.close()


def test_410(t, api):
    p = api.port
    st, _, l = get_json(p, "/api/v1/services?limit=2")
    old_rv = l["metadata"]["resourceVersion"]
    tok = l["metadata"]["continue"]
    api.apply(svc("bump", ip="10.96.0.90"))
    api.compact()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={old_rv}")
    evs, end = w.drain()
    t.check(w.status == 200 and len(evs) == 1 and evs[0]["type"] == "ERROR" and end == "clean",
            "watch from a compacted RV: 200 + one ERROR event, stream ends", repr(evs))
    if evs:
        is_status(t, evs[0]["object"], 410, "Expired", "watch ERROR object")
        t.check("too old resource version" in evs[0]["object"].get("message", ""), "message 'too old resource version'")
    w.close()
    st, _, b = get_json(p, "/api/v1/services?limit=2&continue=" + tok)
    t.eq(st, 410, "continue token older than compaction -> 410")
    is_status(t, b, 410, "Expired", "expired continue")
    # the current RV still works
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    t.check(w.quiet(0.3), "watch from the current RV after compaction is fine")
    w.close()
    # history window by size
    api.configure(history_size=3)
    rv0 = api.resource_version
    for i in range(5):
        api.apply(svc(f"h{i}", ip=f"10.96.1.{i}"))
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={rv0}")
    e = w.event()
    t.check(e["type"] == "ERROR" and e["object"]["code"] == 410, "RV older than the event window -> 410")
    w.close()
    api.configure(history_size=10000)
    # force_410 fault
    st, _, l = get_json(p, "/api/v1/services?limit=2")
    tok = l["metadata"]["continue"]
    fid = api.force_410()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    e = w.event()
    t.check(e["type"] == "ERROR" and e["object"]["code"] == 410 and e["object"]["reason"] == "Expired",
            "force_410: watch from the current RV gets ERROR 410")
    w.close()
    st, _, _ = get_json(p, "/api/v1/services?limit=2&continue=" + tok)
    t.eq(st, 410, "force_410: continue -> 410")
    st, _, _ = get_json(p, "/api/v1/services?limit=2")
    t.eq(st, 200, "force_410: a fresh list still works")
    api.clear_fault(fid)
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    t.check(w.quiet(0.3), "after clear_fault watches work")
    w.close()
    api.force_410(count=1)
    w1 = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    w2 = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    t.check(w1.event()["type"] == "ERROR" and w2.quiet(0.3), "force_410 count=1 hits one watch only")
    w1.close()
    w2.close()


# ---------------------------------------------------------------- tests: faults

def test_down(t, api):
    p = api.port
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    c = fakeapi.FakeAPIClient(api.control_url)
    c.down()
    evs, end = w.drain(2.0)
    t.check(end in ("eof", "reset"), f"down: open watch broken mid-stream ({end})")
    w.close()
    try:
        socket.create_connection((HOST, p), timeout=1).close()
        t.check(False, "down: connection refused")
    except ConnectionRefusedError:
        t.check(True, "down: connection refused")
    t.eq(c.state()["up"], False, "control port answers while down")
    api.apply(svc("while-down", ip="10.96.0.66"))
    c.heal()
    st, _, l = get_json(p, "/api/v1/services")
    t.check(st == 200 and "shop/while-down" in names(l["items"]), "heal: same port serves again, with changes")
    # reset mode
    api.down(mode="reset")
    try:
        request(p, "/api/v1/services", timeout=2)
        t.check(False, "down reset: connection reset")
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as e:
        t.check(True, f"down reset: connection reset ({type(e).__name__})")
    api.heal()
    # scoped to a resource: only services are cut
    api.down(mode="reset", resource="services")
    try:
        request(p, "/api/v1/services", timeout=2)
        ok = False
    except (ConnectionResetError, http.client.RemoteDisconnected):
        ok = True
    st, _, _ = request(p, "/api/v1/pods")
    t.check(ok and st == 200, "down scoped to services leaves pods up")
    api.heal()
    # down through the main port's /_control/ (answered, then down)
    c2 = fakeapi.FakeAPIClient(api.url)
    fid = c2.down()
    t.check(isinstance(fid, int), "down via the API port's /_control/ is answered")
    try:
        socket.create_connection((HOST, p), timeout=1).close()
        t.check(False, "then the API port refuses")
    except ConnectionRefusedError:
        t.check(True, "then the API port refuses")
    c.heal()


def test_hang(t, api):
    p = api.port
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}&allowWatchBookmarks=true")
    api.hang()
    t0 = time.monotonic()
    try:
        request(p, "/api/v1/services", timeout=0.5)
        t.check(False, "hang: list gets no answer")
    except socket.timeout:
        t.check(0.45 <= time.monotonic() - t0 < 2, "hang: client times out")
    api.apply(svc("during-hang", ip="10.96.0.67"))
    t.check(w.quiet(0.8), "hang: open watch delivers nothing (no events, no bookmarks)")
    api.heal()
    e = w.event(2.0)
    t.check(e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "during-hang",
            "after heal the open watch resumes", repr(e)[:200])
    w.close()
    st, _, _ = request(p, "/api/v1/services")
    t.eq(st, 200, "heal: lists answer again")
    api.hang(verb="watch", resource="pods")
    st, _, _ = request(p, "/api/v1/pods", timeout=2)
    t.eq(st, 200, "hang scoped to pod watches: pod list answers")
    try:
        Stream(p, "/api/v1/pods?watch=1", timeout=0.5)
        t.check(False, "hang scoped: pod watch hangs")
    except socket.timeout:
        t.check(True, "hang scoped: pod watch hangs")
    api.heal()


def test_status_faults(t, api):
    p = api.port
    api.status(500)
    st, hd, b = get_json(p, "/api/v1/services")
    t.eq(st, 500, "status 500 on list")
    is_status(t, b, 500, "InternalError", "500")
    st, _, b = get_json(p, "/api/v1/namespaces/shop/services/web")
    t.eq(st, 500, "status 500 on get")
    w = Stream(p, "/api/v1/services?watch=1&resourceVersion=" + api.resource_version)
    t.check(w.status == 500 and json.loads(w.body).get("code") == 500, "status 500 on watch (HTTP, not in-stream)")
    w.close()
    api.heal()
    api.status(503, verb="watch")
    st, _, _ = request(p, "/api/v1/services")
    w = Stream(p, "/api/v1/services?watch=1&resourceVersion=" + api.resource_version)
    t.check(st == 200 and w.status == 503, "status scoped to watch: list 200, watch 503")
    w.close()
    api.heal()
    api.throttle(retry_after=3, count=2)
    st1, hd1, b1 = get_json(p, "/api/v1/services")
    st2, hd2, _ = get_json(p, "/api/v1/pods")
    st3, _, _ = get_json(p, "/api/v1/services")
    t.check(st1 == 429 and st2 == 429 and st3 == 200, "429 for the next 2 requests (count=2), then 200",
            f"{st1} {st2} {st3}")
    t.eq(hd1.get("retry-after"), "3", "Retry-After header")
    is_status(t, b1, 429, "TooManyRequests", "429")
    t.eq(b1.get("details", {}).get("retryAfterSeconds"), 3, "details.retryAfterSeconds")
    api.heal()


def test_empty_and_slow(t, api):
    p = api.port
    _, _, before = get_json(p, "/api/v1/services")
    api.empty_lists(resource="services")
    st, _, l = get_json(p, "/api/v1/services?resourceVersion=0")
    t.check(st == 200 and l["items"] == [] and l["kind"] == "ServiceList"
            and int(l["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"]),
            "empty_lists: zero items with a fresh RV", repr(l)[:200])
    st, _, l = get_json(p, "/api/v1/pods")
    t.check(len(l["items"]) > 0, "empty_lists scoped to services: pods still listed")
    st, _, o = get_json(p, "/api/v1/namespaces/shop/services/web")
    t.eq(st, 200, "empty_lists: get still answers")
    api.heal()
    st, _, l = get_json(p, "/api/v1/services")
    t.eq(names(l["items"]), names(before["items"]), "heal: full lists again")
    api.slow(300)
    t0 = time.monotonic()
    request(p, "/api/v1/services")
    dt = time.monotonic() - t0
    t.check(0.29 <= dt < 1.5, f"slow 300 ms delays the response ({dt:.2f} s)")
    api.heal()
    t0 = time.monotonic()
    request(p, "/api/v1/services")
    t.check(time.monotonic() - t0 < 0.25, "heal: fast again")


def test_drop_watches(t, api):
    p = api.port
    for mode, want in (("eof", "eof"), ("clean", "clean"), ("reset", "reset")):
        ws = [Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}"),
              Stream(p, f"/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion={api.resource_version}")]
        time.sleep(0.1)
        n = api.drop_watches(mode)
        ends = [s.drain(2.0)[1] for s in ws]
        ok_ends = {want} if mode != "reset" else {"reset", "eof"}  # RST may race the FIN-less close
        t.check(n >= 2 and all(e in ok_ends for e in ends), f"drop_watches {mode}: streams end ({ends}, n={n})")
        for s in ws:
            s.close()
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}")
    api.apply(svc("after-drop", ip="10.96.0.68"))
    t.check(w.event()["type"] == "ADDED", "new watches work after a drop")
    w.close()
    end = time.monotonic() + 2
    while api.stats()["watches_open"] and time.monotonic() < end:
        time.sleep(0.05)
    t.eq(api.stats()["watches_open"], 0, "open-watch gauge back to 0 when clients leave")


def test_stats_gzip_manifest(t, api):
    p = api.port
    api.reset_stats()
    request(p, "/api/v1/services?limit=2", {"User-Agent": "holdfast/0.1"})
    get_json(p, "/api/v1/services?limit=2&continue=" +
             get_json(p, "/api/v1/services?limit=2")[2]["metadata"]["continue"])
    request(p, "/api/v1/namespaces/shop/services/nosuch")
    w = Stream(p, f"/api/v1/services?watch=1&resourceVersion={api.resource_version}&timeoutSeconds=1")
    # the server thread registers the watch a moment after the client sent it
    end = time.monotonic() + 2
    s0 = api.stats()
    while (s0["watches_open"] != 1 or fakeapi.count_requests(s0, "services", "watch", 200) != 1) \
            and time.monotonic() < end:
        time.sleep(0.02)
        s0 = api.stats()
    t.check(s0["watches_open"] == 1 and fakeapi.count_requests(s0, "services", "watch", 200) == 1,
            "an open watch is counted when it starts")
    w.drain(3)
    w.close()
    time.sleep(0.1)
    s = fakeapi.FakeAPIClient(api.control_url).stats()
    t.eq(fakeapi.count_requests(s, "services", "list", 200), 3, "stats: 3 service lists")
    t.eq(fakeapi.count_requests(s, "services", "get", 404), 1, "stats: 1 get 404")
    t.eq(fakeapi.count_requests(s, "services", "watch"), 1, "stats: 1 watch")
    t.eq(api.count(verb="list"), 3, "count() in process")
    t.check(s["user_agents"].get("holdfast/0.1") == 1, "User-Agent counted", repr(s["user_agents"]))
    t.check(sum(1 for e in s["log"] if e["continue"]) == 1, "log marks continue requests")
    wl = [e for e in s["log"] if e["verb"] == "watch"]
    t.check(wl and wl[0]["end"] == "timeout", "log records how a watch ended", repr(wl))
    # gzip for big responses, as APIResponseCompression does
    api.configure(gzip_threshold=100)
    st, hd, body = request(p, "/api/v1/services", {"Accept-Encoding": "gzip"})
    t.check(hd.get("content-encoding") == "gzip" and json.loads(gzip.decompress(body))["kind"] == "ServiceList",
            "gzip when accepted and large")
    st, hd, body = request(p, "/api/v1/services")
    t.check("content-encoding" not in hd, "no gzip unless accepted")
    api.configure(gzip_threshold=128 * 1024)
    # manifests: JSON List, JSON lines, YAML, unsupported kinds skipped
    with tempfile.TemporaryDirectory(prefix="fakeapi-") as d:
        jl = os.path.join(d, "a.json")
        with open(jl, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "ServiceList", "items": [
                {"metadata": {"name": "fromlist", "namespace": "data"}, "spec": {"clusterIP": "10.96.5.1"}}]}, f)
        r = api.load(jl)
        t.eq(r["loaded"], 1, "JSON ServiceList items (kind inferred)")
        lines = os.path.join(d, "b.jsonl")
        with open(lines, "w") as f:
            f.write(json.dumps(svc("line1", ns="data", ip="10.96.5.2")) + "\n" + json.dumps(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}) + "\n")
        r = api.load(lines)
        t.check(r["loaded"] == 1 and r["skipped"] == ["ConfigMap/cm"], "JSON lines; unsupported kinds skipped",
                repr(r))
        if fakeapi.yaml is not None:
            y = os.path.join(d, "c.yaml")
            with open(y, "w") as f:
                f.write("apiVersion: v1\nkind: Service\nmetadata:\n  name: fromyaml\n  namespace: data\n"
                        "  creationTimestamp: 2024-01-02T03:04:05Z\nspec:\n  clusterIP: 10.96.5.3\n---\n")
            r = api.load(y)
            o = api.get_object("services", "fromyaml", "data")
            t.check(r["loaded"] == 1 and o["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z",
                    "YAML manifest, timestamps kept as strings", repr(o["metadata"]))
    st, _, l = get_json(p, "/api/v1/namespaces/data/services")
    t.check({"data/fromlist", "data/line1"} <= set(names(l["items"])), "loaded objects listed")


def test_standalone_process(t, api):
    with tempfile.TemporaryDirectory(prefix="fakeapi-") as d:
        m = os.path.join(d, "m.json")
        with open(m, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": BASE}, f)
        sp = fakeapi.spawn([m], extra_args=["--bookmark-interval", "0.2"])
        try:
            st, _, l = get_json(sp.port, "/api/v1/services")
            t.check(st == 200 and len(l["items"]) == 7, "standalone: PORT= line, manifest loaded")
            c = sp.control
            c.apply(svc("ctl", ip="10.96.7.7"))
            st, _, o = get_json(sp.port, "/api/v1/namespaces/shop/services/ctl")
            t.eq(st, 200, "control apply over HTTP")
            c.delete("services", "ctl", "shop")
            st, _, o = get_json(sp.port, "/api/v1/namespaces/shop/services/ctl")
            t.eq(st, 404, "control delete over HTTP")
            c.throttle(retry_after=2)
            st, hd, _ = get_json(sp.port, "/api/v1/pods")
            t.check(st == 429 and hd.get("retry-after") == "2", "control fault over HTTP")
            c.heal()
            c.down()
            try:
                socket.create_connection((HOST, sp.port), timeout=1).close()
                t.check(False, "control down over HTTP")
            except ConnectionRefusedError:
                t.check(True, "control down over HTTP")
            c.heal()
            st, _, _ = get_json(sp.port, "/api/v1/pods")
            t.eq(st, 200, "control heal over HTTP")
            t.check(c.count("services", "list", 200) == 1 and c.count("pods", "list", 429) == 1,
                    "control stats over HTTP")
            st, _, b = request(sp.control_port, "/_control/bogus", method="POST")
            t.check(st == 400 and b"unknown control operation" in b, "unknown control op -> 400", repr(b))
            st, _, _ = request(sp.control_port, "/api/v1/services")
            t.eq(st, 404, "the control port serves /_control/ only")
            t0 = time.monotonic()
            sp.proc.send_signal(signal.SIGTERM)
            rc = sp.proc.wait(5)
            t.check(rc == 0 and time.monotonic() - t0 < 3, f"SIGTERM: exit 0 (rc={rc})")
        finally:
            sp.stop()


# ---------------------------------------------------------------- runner

TESTS = [test_discovery, test_list_get, test_selectors, test_pagination, test_resource_version_semantics,
         test_watch_events, test_bookmarks_and_timeout, test_410, test_down, test_hang, test_status_faults,
         test_empty_and_slow, test_drop_watches, test_stats_gzip_manifest, test_standalone_process]


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout()


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-k", action="append", default=[])
    a = ap.parse_args()
    VERBOSE = a.v
    signal.signal(signal.SIGALRM, _alarm)
    failed, checks, t_all = [], 0, time.monotonic()
    for fn in TESTS:
        if a.k and not any(k in fn.__name__ for k in a.k):
            continue
        t = T(fn.__name__)
        print(f"{fn.__name__}")
        api = new_api()
        t0 = time.monotonic()
        signal.alarm(TEST_TIMEOUT)
        try:
            fn(t, api)
        except TestTimeout:
            t.failures.append("timeout")
            print(f"    FAIL test exceeded {TEST_TIMEOUT} s")
        except Exception:
            t.failures.append("exception")
            print("    FAIL exception:\n" + traceback.format_exc())
        finally:
            signal.alarm(0)
            api.stop()
        checks += t.passed + len(t.failures)
        print(f"    {t.passed} ok, {len(t.failures)} failed ({time.monotonic() - t0:.1f} s)")
        if t.failures:
            failed.append(fn.__name__)
    left = [th.name for th in threading.enumerate() if th.name.startswith("fakeapi") and th.is_alive()]
    print(f"\n{checks} checks, {len(failed)} failing tests{': ' + ', '.join(failed) if failed else ''}; "
          f"{time.monotonic() - t_all:.1f} s")
    if left:
        print(f"FAIL: server threads still running: {left}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
