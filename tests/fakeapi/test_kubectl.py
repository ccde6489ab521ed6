#!/usr/bin/python3
"""test_kubectl.py: proves the fake API server is faithful enough for a
real client: drives the real kubectl (/usr/bin/kubectl) against it with a
temporary kubeconfig (plain HTTP on 127.0.0.1) and compares what kubectl
prints with the objects loaded from tests/integration/data/cluster.yaml
and pods-list.yaml.

    /usr/bin/python3 tests/fakeapi/test_kubectl.py [-v] [--kubectl PATH]

Covers: discovery (aggregated and legacy), get ns / svc / endpointslices /
pods (Table output), -o json / -o yaml, get by name, label and field
selectors, --chunk-size pagination (continue tokens seen by the fake),
get --watch (JSON and Table) while the control API adds, modifies and
deletes a Service, NotFound, 500, 429 + Retry-After (client-go retries),
connection refused.  Every kubectl call is bounded in time; everything
started is stopped at the end.  Exit status 0 when all checks passed.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fakeapi  # noqa: E402

DATA = os.path.join(HERE, "..", "integration", "data")
MANIFESTS = [os.path.join(DATA, "cluster.yaml"), os.path.join(DATA, "pods-list.yaml")]
KUBECTL_TIMEOUT = 30  # seconds per kubectl run
VERBOSE = False


class Checks:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def check(self, cond, desc, detail=""):
        if cond:
            self.passed += 1
            if VERBOSE:
                print(f"    ok   {desc}")
        else:
            self.failures.append(desc)
            print(f"    FAIL {desc}" + (f"\n        {detail[:2000]}" if detail else ""))
        return bool(cond)

    def eq(self, got, want, desc):
        return self.check(got == want, desc, f"got  {got!r}\n        want {want!r}")


class Kubectl:
    def __init__(self, binary, kubeconfig, tmp):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.cache = os.path.join(tmp, "cache")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
                    "LANG": "C.UTF-8"}
        self.procs = []

    def argv(self, args):
        return [self.binary, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache,
                "--request-timeout=20s"] + list(args)

    def run(self, *args, timeout=KUBECTL_TIMEOUT):
        if VERBOSE:
            print("    $ kubectl " + " ".join(args))
        p = subprocess.run(self.argv(args), capture_output=True, text=True, timeout=timeout, env=self.env)
        return p.returncode, p.stdout, p.stderr

    def start(self, *args):
        p = subprocess.Popen(self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=self.env, start_new_session=True)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


class Reader:
    """Collects a process's stdout in a thread."""

    def __init__(self, proc):
        self.text = ""
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self.t.start()

    def _run(self, proc):
        for chunk in iter(lambda: proc.stdout.read(1), ""):
            with self.lock:
                self.text += chunk

    def get(self):
        with self.lock:
            return self.text

    def wait_for(self, pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred(self.get()):
                return True
            time.sleep(0.05)
        return pred(self.get())


def json_stream(text):
    """Parse concatenated JSON documents (kubectl -w -o json output)."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out  # incomplete tail
        out.append(obj)


def table(text):
    """Rows of kubectl's table output as lists of cells (header first)."""
    return [ln.split() for ln in text.splitlines() if ln.strip()]


def key(o):
    md = o["metadata"]
    return (md.get("namespace", ""), md["name"])


def svc(name, ns, ip, port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}}


def run_tests(c, api, k):
    services = api.objects("services")
    namespaces = api.objects("namespaces")
    slices = api.objects("endpointslices")
    pods = api.objects("pods")
    c.check(len(services) >= 10 and len(slices) >= 5 and len(pods) >= 5, "test data loaded",
            f"{len(services)} services, {len(slices)} slices, {len(pods)} pods")

    rc, out, err = k.run("version", "-o", "json")
    v = json.loads(out) if rc == 0 else {}
    c.check(v.get("serverVersion", {}).get("gitVersion") == api.version, "kubectl version: server version",
            out + err)

    rc, out, err = k.run("get", "ns")
    rows = table(out)
    c.check(rc == 0 and rows and rows[0] == ["NAME", "STATUS", "AGE"], "get ns: table header", out + err)
    c.eq(sorted(r[0] for r in rows[1:]), sorted(n["metadata"]["name"] for n in namespaces), "get ns: names")
    c.check(all(r[1] == "Active" for r in rows[1:]), "get ns: STATUS Active")

    rc, out, err = k.run("get", "svc", "-A", "-o", "json")
    got = json.loads(out) if rc == 0 else {"items": []}
    c.check(rc == 0 and got.get("kind") == "List", "get svc -A -o json", err)
    want = {key(s): s for s in services}
    have = {key(s): s for s in got["items"]}
    c.eq(sorted(have), sorted(want), "get svc -A -o json: same services")
    same = [kk for kk in want if kk in have and have[kk].get("spec") == want[kk].get("spec")
            and have[kk]["metadata"].get("labels") == want[kk]["metadata"].get("labels")
            and have[kk]["metadata"]["resourceVersion"] == want[kk]["metadata"]["resourceVersion"]
            and have[kk]["metadata"]["uid"] == want[kk]["metadata"]["uid"]]
    c.eq(len(same), len(want), "get svc -A -o json: spec, labels, uid, resourceVersion identical")
    c.check(all(s.get("kind") == "Service" and s.get("apiVersion") == "v1" for s in got["items"]),
            "kubectl fills kind/apiVersion of list items")

    rc, out, err = k.run("get", "endpointslices", "-A")
    rows = table(out)
    c.check(rc == 0 and rows and rows[0][:4] == ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS"],
            "get endpointslices -A: table", out + err)
    c.eq(sorted((r[0], r[1]) for r in rows[1:]), sorted(key(s) for s in slices),
         "get endpointslices -A: every slice")
    byname = {(r[0], r[1]): r for r in rows[1:]}
    ok = all(byname.get(key(s), [None, None, None])[2] == s.get("addressType") for s in slices)
    c.check(ok, "get endpointslices -A: ADDRESSTYPE column")

    web = api.get_object("services", "web", "shop")
    rc, out, err = k.run("get", "svc", "-n", "shop", "web", "-o", "yaml")
    if fakeapi.yaml is not None:
        y = fakeapi.yaml.safe_load(out) if rc == 0 else {}
        c.check(rc == 0 and y.get("kind") == "Service" and y.get("spec") == web["spec"]
                and y["metadata"]["name"] == "web" and y["metadata"]["namespace"] == "shop"
                and y["metadata"]["uid"] == web["metadata"]["uid"], "get svc -n shop web -o yaml", out + err)
    else:
        c.check(rc == 0 and "name: web" in out and "namespace: shop" in out, "get svc web -o yaml (no pyyaml)")

    rc, out, err = k.run("get", "svc", "-n", "shop")
    rows = table(out)
    c.check(rows and rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            "get svc: server-side Table columns", out + err)
    webrow = [r for r in rows if r[0] == "web"]
    c.check(webrow and webrow[0][1:3] == ["ClusterIP", web["spec"]["clusterIP"]], "get svc: web row", repr(webrow))

    rc, out, err = k.run("get", "pods", "-A", "--field-selector", "status.phase!=Running", "-o", "name")
    want_pods = sorted("pod/" + p["metadata"]["name"] for p in pods
                       if p.get("status", {}).get("phase") != "Running")
    c.eq(sorted(out.split()), want_pods, "get pods --field-selector status.phase!=Running")
    rc, out, err = k.run("get", "svc", "-A", "-l", "app=web", "-o", "name")
    want_svc = sorted("service/" + s["metadata"]["name"] for s in services
                      if s["metadata"].get("labels", {}).get("app") == "web")
    c.check(want_svc and sorted(out.split()) == want_svc, "get svc -l app=web", f"{out!r} vs {want_svc!r}")

    rc, out, err = k.run("get", "svc", "-n", "shop", "nosuch")
    c.check(rc == 1 and 'services "nosuch" not found' in err and "NotFound" in err,
            "get missing: NotFound from the Status object", err)

    # --chunk-size pagination
    api.reset_stats()
    rc, out, err = k.run("get", "svc", "-A", "--chunk-size=2", "-o", "name")
    c.eq(sorted(out.split()), sorted("service/" + s["metadata"]["name"] for s in services),
         "get svc -A --chunk-size=2: every service")
    log = [e for e in api.stats()["log"] if e["resource"] == "services" and e["verb"] == "list"]
    pages = (len(services) + 1) // 2
    c.eq(len(log), pages, f"--chunk-size=2: {pages} list requests")
    c.check(all(e["limit"] == "2" for e in log) and sum(e["continue"] for e in log) == pages - 1,
            "--chunk-size=2: limit=2, continue token on every later page", json.dumps(log)[:600])
    c.check(any(e["ua"].startswith("kubectl/") for e in log), "User-Agent kubectl/... recorded",
            repr({e["ua"] for e in log}))

    # watch, JSON: list then watch from the list RV; control changes arrive
    api.reset_stats()
    p = k.start("get", "svc", "-A", "--watch", "-o", "json", "--output-watch-events")
    r = Reader(p)
    n0 = len(services)
    c.check(r.wait_for(lambda t: len(json_stream(t)) >= n0, 15), "watch -o json: initial objects printed")
    api.apply(svc("kw-new", "shop", "10.96.99.1"))
    api.apply(svc("kw-new", "shop", "10.96.99.1", port=8080))
    api.delete("services", "kw-new", "shop")
    ok = r.wait_for(lambda t: [e["type"] for e in json_stream(t)[n0:]] == ["ADDED", "MODIFIED", "DELETED"], 10)
    evs = json_stream(r.get())
    c.check(ok, "watch -o json: ADDED, MODIFIED, DELETED of the control-made service",
            repr([(e.get("type"), e.get("object", {}).get("metadata", {}).get("name")) for e in evs[n0:]]))
    if len(evs) >= n0 + 2:
        c.check(evs[n0]["object"]["metadata"]["name"] == "kw-new"
                and evs[n0 + 1]["object"]["spec"]["ports"][0]["port"] == 8080, "watch -o json: event objects")
    k.stop_all()
    st = api.stats()
    wl = [e for e in st["log"] if e["resource"] == "services" and e["verb"] == "watch"]
    ll = [e for e in st["log"] if e["resource"] == "services" and e["verb"] == "list"]
    c.check(len(ll) == 1 and len(wl) == 1 and wl[0]["resourceVersion"] and
            int(wl[0]["resourceVersion"]) <= int(api.resource_version),
            "kubectl get -w: one list, then one watch from its RV",
            json.dumps([(e["verb"], e["query"]) for e in ll + wl]))

    # watch, Table (no -o)
    p = k.start("get", "svc", "-n", "data", "--watch")
    r = Reader(p)
    c.check(r.wait_for(lambda t: "NAME" in t and "cache" in t, 15), "watch table: initial rows", r.get())
    api.apply(svc("kw-tbl", "data", "10.96.99.2"))
    c.check(r.wait_for(lambda t: any(row[:3] == ["kw-tbl", "ClusterIP", "10.96.99.2"] for row in table(t)), 10),
            "watch table: added service printed", r.get())
    k.stop_all()

    # legacy discovery (pre-aggregated servers): kubectl falls back
    api.configure(aggregated_discovery=False)
    shutil.rmtree(k.cache, ignore_errors=True)
    api.reset_stats()
    rc, out, err = k.run("get", "endpointslices", "-A", "-o", "name")
    paths = {e["path"] for e in api.stats()["log"] if e["verb"] == "discovery"}
    c.check(rc == 0 and len(out.split()) == len(slices) and "/apis/discovery.k8s.io/v1" in paths,
            "legacy discovery: kubectl reads /apis/discovery.k8s.io/v1 and works", f"{sorted(paths)} {err}")
    api.configure(aggregated_discovery=True)

    # faults as kubectl sees them
    fid = api.status(500, resource="services")
    rc, out, err = k.run("get", "svc", "-A")
    c.check(rc == 1 and "Internal error occurred" in err, "500: kubectl reports the Status message", err)
    api.clear_fault(fid)
    api.reset_stats()
    api.throttle(retry_after=1, resource="services", count=1)
    t0 = time.monotonic()
    rc, out, err = k.run("get", "svc", "-A", "-o", "name")
    dt = time.monotonic() - t0
    codes = [e["code"] for e in api.stats()["log"] if e["resource"] == "services"]
    c.check(rc == 0 and codes == [429, 200] and dt >= 0.9,
            f"429 + Retry-After 1: client-go waits and retries ({codes}, {dt:.1f} s)", err)
    api.down()
    rc, out, err = k.run("get", "ns")
    c.check(rc == 1 and "refused" in err, "down: kubectl sees connection refused", err)
    api.heal()
    rc, out, err = k.run("get", "ns", "-o", "name")
    c.check(rc == 0 and len(out.split()) == len(namespaces), "heal: kubectl works again", err)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--kubectl", default="/usr/bin/kubectl")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    VERBOSE = a.v
    if not (os.path.isfile(a.kubectl) and os.access(a.kubectl, os.X_OK)):
        print(f"FAIL: {a.kubectl} not found (this test needs a real kubectl)")
        return 1
    c = Checks()
    tmp = tempfile.mkdtemp(prefix="fakeapi-kubectl-")
    api = fakeapi.FakeAPI(bookmark_interval=1.0)
    k = None
    t0 = time.monotonic()

    def alarm(*_):
        raise TimeoutError("test_kubectl exceeded 180 s")
    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(180)
    try:
        for m in MANIFESTS:
            api.load(m)
        api.start()
        kc = api.kubeconfig(os.path.join(tmp, "kubeconfig"))
        k = Kubectl(a.kubectl, kc, tmp)
        run_tests(c, api, k)
    except Exception:
        c.failures.append("exception")
        print("    FAIL exception:\n" + traceback.format_exc())
    finally:
        signal.alarm(0)
        if k:
            k.stop_all()
        api.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"test_kubectl: {c.passed} ok, {len(c.failures)} failed ({time.monotonic() - t0:.1f} s)")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
