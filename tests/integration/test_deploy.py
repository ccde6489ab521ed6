"""test_deploy.py: the kube-system manifests in deploy/ (issue 6).

Parses every YAML file in deploy/ with python3-yaml and checks the objects
against what CoreDNS's own manifests require (spec style-and-ecosystem.md
2.1, coredns-behaviour.md 3): ServiceAccount `coredns`, ClusterRole and
ClusterRoleBinding `system:coredns` (list/watch on endpoints, services,
pods, namespaces and discovery.k8s.io endpointslices, nothing more),
ConfigMap `coredns` (kubeadm's Corefile + holdfast's memory/serve_stale/
snapshot), Deployment `coredns` (labels, selector, replicas, scheduling,
args, ports, probes, resources, securityContext, volumes, dnsPolicy) and
Service `kube-dns`.  Cross-checks: the Corefile's listeners match the
declared ports and probes, the snapshot path is on a writable volume, the
memory request/limit leave room for the `memory` region (and for the second
region a reload maps).  Then the ConfigMap's Corefile is run for real with
test_corefile_matrix.run_corefile() (same loopback rewrites: fake API,
local upstream, free ports) and, when the fake API can stand in for a
cluster, `kubectl apply --dry-run=client` reads the file.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

import harness
from harness import HarnessError, Skip
import test_corefile_matrix as matrix

TEST_TIMEOUT = 90
DEPLOY = harness.REPO / "deploy"
NS = "kube-system"
KUBECTL = Path("/usr/bin/kubectl")

# what CoreDNS's ClusterRole grants (spec style 2.1 "RBAC")
RBAC = {(g, r, v) for g, rs in (("", ("endpoints", "services", "pods", "namespaces")),
                                ("discovery.k8s.io", ("endpointslices",)))
        for r in rs for v in ("list", "watch")}
# holdfast's own lines in the ConfigMap's Corefile (README); everything else
# must be kubeadm's Corefile token for token
HOLDFAST_LINES = ("memory", "serve_stale", "snapshot")
PROCESS_BASELINE_MI = 16   # RSS of holdfast without a region (~12 MiB measured) + margin


def load_objects():
    files = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        raise HarnessError("no YAML files in deploy/")
    objs = []
    for f in files:
        for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
            if doc is not None:
                objs.append((f"{f.name}#{i}", doc))
    return objs


def find(objs, kind, name):
    got = [o for _, o in objs if o.get("kind") == kind
           and (o.get("metadata") or {}).get("name") == name]
    return got[0] if len(got) == 1 else None


def mebibytes(q):
    """A Kubernetes memory quantity in MiB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T|k)?", str(q))
    if not m:
        raise HarnessError(f"bad quantity {q!r}")
    mult = {None: 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4,
            "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * mult / 1024 ** 2


def corefile_size_mi(arg):
    """holdfast's `memory SIZE` (README: bytes or K/M/G/T, binary) in MiB."""
    m = re.fullmatch(r"(\d+)([KMGT]?)", arg)
    if not m:
        raise HarnessError(f"bad memory size {arg!r}")
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3,
                              "T": 1024 ** 4}[m.group(2)] / 1024 ** 2


def configmap_corefile(objs):
    cm = find(objs, "ConfigMap", "coredns")
    if cm is None or "Corefile" not in (cm.get("data") or {}):
        raise HarnessError("no ConfigMap coredns with a Corefile key")
    return cm["data"]["Corefile"]


def holdfast_directives(corefile):
    """{name: [args]} of holdfast's own lines, wherever they are."""
    out = {}
    for line in corefile.splitlines():
        toks = line.split("#", 1)[0].split()
        if toks and toks[0] in HOLDFAST_LINES:
            out[toks[0]] = toks[1:]
    return out


def container(objs):
    dep = find(objs, "Deployment", "coredns")
    if dep is None:
        raise HarnessError("no Deployment coredns")
    cs = dep["spec"]["template"]["spec"].get("containers") or []
    if len(cs) != 1:
        raise HarnessError(f"{len(cs)} containers in the Deployment, want 1")
    return dep, cs[0]


# ---------------------------------------------------------------- tests

def test_objects(t):
    objs = load_objects()
    for where, o in objs:
        t.check(o.get("apiVersion") and o.get("kind") and (o.get("metadata") or {}).get("name"),
                f"{where}: apiVersion, kind and metadata.name set")
    want = {("v1", "ServiceAccount", "coredns", NS),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "system:coredns", None),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "system:coredns", None),
            ("v1", "ConfigMap", "coredns", NS),
            ("apps/v1", "Deployment", "coredns", NS),
            ("v1", "Service", "kube-dns", NS)}
    got = [(o.get("apiVersion"), o.get("kind"), o["metadata"].get("name"),
            o["metadata"].get("namespace")) for _, o in objs]
    t.eq(sorted(got, key=str), sorted(want, key=str),
         "deploy/: exactly CoreDNS's six objects (same names, kube-system)")


def test_rbac(t):
    objs = load_objects()
    cr = find(objs, "ClusterRole", "system:coredns")
    if not t.check(cr is not None, "ClusterRole system:coredns"):
        return
    got = set()
    for rule in cr.get("rules") or []:
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                for v in rule.get("verbs", []):
                    got.add((g, r, v))
    t.eq(sorted(got), sorted(RBAC), "ClusterRole: list/watch on endpoints, services, pods, "
                                    "namespaces and endpointslices, nothing else")
    crb = find(objs, "ClusterRoleBinding", "system:coredns")
    if not t.check(crb is not None, "ClusterRoleBinding system:coredns"):
        return
    t.eq(crb.get("roleRef"), {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "system:coredns"}, "ClusterRoleBinding: roleRef")
    t.eq(crb.get("subjects"), [{"kind": "ServiceAccount", "name": "coredns", "namespace": NS}],
         "ClusterRoleBinding: subject ServiceAccount kube-system/coredns")


def test_configmap_corefile(t):
    objs = load_objects()
    cf = configmap_corefile(objs)
    hd = holdfast_directives(cf)
    rest = "\n".join(ln for ln in cf.splitlines()
                     if not (ln.split("#", 1)[0].split()[:1] and
                             ln.split("#", 1)[0].split()[0] in HOLDFAST_LINES))
    t.eq(matrix.corefile_tokens(rest), matrix.corefile_tokens(matrix.KUBEADM_SPEC),
         "ConfigMap Corefile: kubeadm's Corefile, token for token, apart from holdfast's lines")
    t.check("memory" in hd and len(hd["memory"]) == 1 and 8 <= corefile_size_mi(hd["memory"][0]),
            "ConfigMap Corefile: `memory SIZE` (at least 8M)", str(hd.get("memory")))
    t.check("serve_stale" in hd and 1 <= len(hd["serve_stale"]) <= 2,
            "ConfigMap Corefile: `serve_stale MIN [MAX]`", str(hd.get("serve_stale")))
    t.check(hd.get("snapshot", [None])[0] == "/var/lib/holdfast/snapshot",
            "ConfigMap Corefile: `snapshot /var/lib/holdfast/snapshot`", str(hd.get("snapshot")))
    # the holdfast lines sit where they belong: memory in the server block,
    # serve_stale/snapshot inside the kubernetes block
    tree = matrix.parse_tree(cf)
    blocks = [n for n in tree if n.raw is None]
    t.eq(len(blocks), 1, "ConfigMap Corefile: one server block")
    if blocks:
        top = [n.name for n in blocks[0].children if n.raw is None]
        t.check("memory" in top, "memory is a server-block directive")
        k8s = [n for n in blocks[0].children if n.raw is None and n.name == "kubernetes"]
        inner = [n.name for n in (k8s[0].children or [])] if k8s else []
        t.check("serve_stale" in inner and "snapshot" in inner,
                "serve_stale and snapshot are inside the kubernetes block", str(inner))


def test_deployment(t):
    objs = load_objects()
    dep, c = container(objs)
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    t.eq((dep["metadata"].get("labels") or {}).get("k8s-app"), "kube-dns",
         "Deployment: label k8s-app=kube-dns")
    t.eq(spec.get("replicas"), 2, "Deployment: 2 replicas")
    t.eq(spec.get("selector"), {"matchLabels": {"k8s-app": "kube-dns"}},
         "Deployment: selector k8s-app=kube-dns only (kubeadm's; a selector is immutable)")
    t.eq(labels.get("k8s-app"), "kube-dns", "pod template: label k8s-app=kube-dns")
    t.eq(pod.get("priorityClassName"), "system-cluster-critical", "priorityClassName")
    t.eq(pod.get("serviceAccountName"), "coredns", "serviceAccountName coredns")
    tol = pod.get("tolerations") or []
    t.check({"key": "CriticalAddonsOnly", "operator": "Exists"} in tol,
            "toleration CriticalAddonsOnly Exists", str(tol))
    t.check(any(x.get("key") == "node-role.kubernetes.io/control-plane"
                and x.get("effect") == "NoSchedule" for x in tol),
            "toleration node-role.kubernetes.io/control-plane NoSchedule", str(tol))
    pref = (((pod.get("affinity") or {}).get("podAntiAffinity") or {})
            .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    t.check(any(p.get("podAffinityTerm", {}).get("topologyKey") == "kubernetes.io/hostname"
                and {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}
                in p["podAffinityTerm"].get("labelSelector", {}).get("matchExpressions", [])
                for p in pref),
            "podAntiAffinity preferred by kubernetes.io/hostname on k8s-app=kube-dns", str(pref))
    t.eq(pod.get("dnsPolicy"), "Default", "dnsPolicy Default")

    t.eq(c.get("name"), "coredns", "container name coredns")
    t.check(str(c.get("image", "")).startswith("holdfast:"), "image holdfast:VERSION",
            str(c.get("image")))
    t.eq(c.get("args"), ["-conf", "/etc/coredns/Corefile"], "args -conf /etc/coredns/Corefile")
    ports = {(p.get("containerPort"), p.get("protocol", "TCP"), p.get("name"))
             for p in c.get("ports") or []}
    for want in ((53, "UDP", "dns"), (53, "TCP", "dns-tcp"), (9153, "TCP", "metrics")):
        t.check(want in ports, f"container port {want[0]}/{want[1]} {want[2]}", str(ports))
    lp, rp = c.get("livenessProbe") or {}, c.get("readinessProbe") or {}
    t.eq((lp.get("httpGet") or {}).get("path"), "/health", "livenessProbe GET /health")
    t.eq((lp.get("httpGet") or {}).get("port"), 8080, "livenessProbe port 8080")
    t.eq({k: lp.get(k) for k in ("initialDelaySeconds", "timeoutSeconds", "successThreshold",
                                 "failureThreshold")},
         {"initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1,
          "failureThreshold": 5}, "livenessProbe timings as CoreDNS's")
    t.eq((rp.get("httpGet") or {}).get("path"), "/ready", "readinessProbe GET /ready")
    t.eq((rp.get("httpGet") or {}).get("port"), 8181, "readinessProbe port 8181")

    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    t.eq(sc.get("allowPrivilegeEscalation"), False, "allowPrivilegeEscalation false")
    t.eq(sc.get("readOnlyRootFilesystem"), True, "readOnlyRootFilesystem true")
    t.eq(caps.get("drop"), ["ALL"], "capabilities drop ALL")
    t.eq(sorted(caps.get("add") or []), ["IPC_LOCK", "NET_BIND_SERVICE"],
         "capabilities add NET_BIND_SERVICE (port 53) and IPC_LOCK (mlock), nothing else")

    vols = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["name"]: m for m in c.get("volumeMounts") or []}
    t.eq(vols.get("config-volume", {}).get("configMap"),
         {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]},
         "volume config-volume from ConfigMap coredns, item Corefile")
    t.eq((mounts.get("config-volume") or {}).get("mountPath"), "/etc/coredns",
         "config-volume mounted at /etc/coredns")
    t.eq((mounts.get("config-volume") or {}).get("readOnly"), True, "config-volume read-only")

    # the snapshot path lies on a writable emptyDir/hostPath mount
    snap = holdfast_directives(configmap_corefile(objs)).get("snapshot", [""])[0]
    on = [m for m in mounts.values()
          if snap.startswith(m["mountPath"].rstrip("/") + "/") and not m.get("readOnly")]
    t.check(on and ("emptyDir" in vols.get(on[0]["name"], {})
                    or "hostPath" in vols.get(on[0]["name"], {})),
            f"snapshot {snap} is on a writable emptyDir or hostPath volume",
            str([m for m in mounts.values()]))


def test_resources_fit_memory_region(t):
    objs = load_objects()
    _, c = container(objs)
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    t.eq(req.get("cpu"), "100m", "requests cpu 100m (as CoreDNS)")
    region = corefile_size_mi(holdfast_directives(configmap_corefile(objs))["memory"][0])
    rq, lm = mebibytes(req.get("memory", "0")), mebibytes(lim.get("memory", "0"))
    t.check(rq >= max(70, region + PROCESS_BASELINE_MI),
            f"requests memory {req.get('memory')} >= CoreDNS's 70Mi and the pinned region "
            f"({region:g} MiB) + {PROCESS_BASELINE_MI} MiB for the process")
    t.check(lm >= max(170, 2 * region + 2 * PROCESS_BASELINE_MI),
            f"limits memory {lim.get('memory')} >= CoreDNS's 170Mi and 2 x region "
            f"(a reload maps the new region first) + room outside it")
    t.check(lm >= rq, "limit >= request")


def test_service(t):
    objs = load_objects()
    svc = find(objs, "Service", "kube-dns")
    dep = find(objs, "Deployment", "coredns")
    if not t.check(svc is not None and dep is not None, "Service kube-dns and Deployment"):
        return
    md, spec = svc["metadata"], svc["spec"]
    t.eq(md.get("annotations"), {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
         "Service annotations prometheus.io/port \"9153\", prometheus.io/scrape \"true\"")
    t.eq({k: (md.get("labels") or {}).get(k) for k in ("k8s-app", "kubernetes.io/name")},
         {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
         "Service labels k8s-app=kube-dns, kubernetes.io/name=CoreDNS")
    t.eq(spec.get("selector"), {"k8s-app": "kube-dns"}, "Service selector k8s-app=kube-dns")
    labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    t.check(all(labels.get(k) == v for k, v in (spec.get("selector") or {}).items()),
            "the Service selects the Deployment's pods")
    t.eq(spec.get("clusterIP"), "10.96.0.10", "clusterIP 10.96.0.10 (placeholder)")
    ports = sorted((p.get("name"), p.get("port"), p.get("protocol", "TCP"))
                   for p in spec.get("ports") or [])
    t.eq(ports, sorted([("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]),
         "Service ports dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP")
    cports = {(p.get("containerPort"), p.get("protocol", "TCP"))
              for p in container(objs)[1].get("ports") or []}
    for p in spec.get("ports") or []:
        tp = p.get("targetPort", p.get("port"))
        t.check((tp, p.get("protocol", "TCP")) in cports,
                f"Service port {p.get('name')} targets a container port ({tp})")


def test_corefile_listeners_match_manifest(t):
    """What the Corefile opens is what the Deployment declares and probes."""
    objs = load_objects()
    tree = matrix.parse_tree(configmap_corefile(objs))
    blk = [n for n in tree if n.raw is None][0]
    t.eq(blk.toks, [".:53"], "server block .:53 (container ports 53/UDP+TCP)")
    d = {n.name: n.toks[1:] for n in blk.children if n.raw is None}
    t.check(d.get("health") in ([], None) and "health" in d,
            "health on its default :8080 (livenessProbe port)", str(d.get("health")))
    t.check(d.get("ready") == [], "ready on its default :8181 (readinessProbe port)",
            str(d.get("ready")))
    t.eq(d.get("prometheus"), [":9153"], "prometheus :9153 (container port metrics)")
    t.check("breakglass" not in d, "no break-glass listener in the stock ConfigMap "
                                   "(it would need a token Secret; README explains)")


_DEFERRED = []


def test_configmap_corefile_runs(t):
    """The ConfigMap's Corefile starts, gets ready, answers and stops, with
    the matrix test's loopback rewrites (fake API with demo-cluster.yaml,
    upstream on 127.53.X.Y:53, free ports, snapshot in a temp dir)."""
    if not harness.CFG.holdfast.exists():
        raise HarnessError(f"{harness.CFG.holdfast} not found")
    matrix.run_corefile(t, "deploy-configmap", configmap_corefile(load_objects()),
                        deferred=_DEFERRED)


def test_kubectl_dry_run(t):
    """kubectl (client-side dry run) reads deploy/ against the fake API,
    which is given discovery for the kinds in the file (the fake itself
    serves only the five resources holdfast watches).  Schema validation
    needs the server's OpenAPI, which the fake does not serve, so
    --validate=false: kubectl decodes every object and maps its kind."""
    if not KUBECTL.exists():
        raise Skip("/usr/bin/kubectl not installed")
    tmp = Path(harness.CFG.tmpdir("deploy-kubectl"))
    code = f"""
import sys
sys.path.insert(0, {str(harness.REPO / 'tests' / 'fakeapi')!r})
import fakeapi as f
R = f.Resource
for r in [R("serviceaccounts", "ServiceAccount", "", "v1", True, "serviceaccount"),
          R("configmaps", "ConfigMap", "", "v1", True, "configmap"),
          R("deployments", "Deployment", "apps", "v1", True, "deployment"),
          R("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False, "clusterrole"),
          R("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1",
            False, "clusterrolebinding")]:
    f.RESOURCES[r.name] = r
f.GROUPS["apps"] = ["v1"]
f.GROUPS["rbac.authorization.k8s.io"] = ["v1"]
with f.FakeAPI() as api:
    api.kubeconfig({str(tmp / 'kubeconfig')!r})
    print("READY", flush=True)
    sys.stdin.read()
"""
    p = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        line = p.stdout.readline()
        if line.strip() != "READY":
            raise HarnessError(f"fake API did not start: {line} {p.stderr.read()[-500:]}")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
               "KUBECONFIG": str(tmp / "kubeconfig")}   # no proxies: loopback only
        try:
            r = subprocess.run([str(KUBECTL), "apply", "--dry-run=client", "--validate=false",
                                "-o", "json", "-f", str(DEPLOY)],
                               env=env, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise HarnessError("kubectl did not finish within 60 s")
        if not t.check(r.returncode == 0, "kubectl apply --dry-run=client -f deploy/ exits 0",
                       r.stderr[-1500:]):
            return
        out = json.loads(r.stdout)
        items = out.get("items", [out]) if out.get("kind") == "List" else [out]
        got = sorted((i["kind"], i["metadata"]["name"]) for i in items)
        want = sorted((o["kind"], o["metadata"]["name"]) for _, o in load_objects())
        t.eq(got, want, "kubectl read every object of deploy/")
        dep = [i for i in items if i["kind"] == "Deployment"]
        t.check(dep and dep[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                ["capabilities"]["add"] == ["NET_BIND_SERVICE", "IPC_LOCK"],
                "kubectl's view of the Deployment keeps the capabilities")
    finally:
        try:
            p.stdin.close()
            p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait(timeout=5)
        for h in (p.stdout, p.stderr):
            h.close()


def test_readme_section(t):
    text = (harness.REPO / "README.md").read_text()
    m = re.search(r"^## Replace CoreDNS in a cluster\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not t.check(m, "README.md has a section \"Replace CoreDNS in a cluster\""):
        return
    sec = m.group(1)
    for word in ("deploy/holdfast.yaml", "IPC_LOCK", "snapshot", "memory", "breakglass",
                 "rollout undo"):
        t.check(word in sec, f"the README section mentions {word}")
    t.check(re.search(r"[Rr]oll(ing)? back", sec), "the README section says how to roll back")


def test_zz_deferred_checks(t):
    """test_configmap_corefile_runs' checks that wait for a feature."""
    matrix.report_deferred(t, _DEFERRED, "test_configmap_corefile_runs")

