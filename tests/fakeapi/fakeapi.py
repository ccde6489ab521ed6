#!/usr/bin/python3
"""fakeapi.py: a fake Kubernetes API server (real HTTP on 127.0.0.1) for
holdfast's API-client and serve-stale tests.  Standard library only (plus
python3-yaml for YAML manifests, when installed).

Serves namespaces, services, endpoints, pods (core/v1) and endpointslices
(discovery.k8s.io/v1) the way kube-apiserver does: discovery (legacy and
aggregated v2), get, list (limit/continue pagination over a consistent
snapshot, resourceVersion/resourceVersionMatch semantics, label and field
selectors, Table and PartialObjectMetadata output), watch (chunked JSON
lines, synthetic ADDED events, bookmarks, timeoutSeconds, 410 ERROR events
on compacted resourceVersions), Status objects for errors.

A control interface (the FakeAPI methods, or HTTP under /_control/ on the
API port and on a separate control port that stays up while the API is
"down") loads manifests, adds/modifies/deletes objects, compacts history
and injects faults: down, hang, status (500, 429 + Retry-After...),
empty_lists, force_410, slow, drop_watches, heal.  Every API request is
logged and counted per (resource, verb, code) with its User-Agent.

Standalone:
    fakeapi.py [--port 0] [--control-port 0] [--manifest FILE]... [-v]
prints PORT=N and CONTROL_PORT=M on its first two lines and serves until
SIGTERM/SIGINT.  From Python: FakeAPI(...).start(), or spawn(...) for a
subprocess driven through FakeAPIClient.  See README.md.
"""

import argparse
import base64
import bisect
import collections
import copy
import datetime
import gzip
import http.server
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

try:
    import yaml  # Debian python3-yaml
except ImportError:  # pragma: no cover - JSON manifests still work
    yaml = None

HOST = "127.0.0.1"
JSON_CT = "application/json"

# ------------------------------------------------------------------ resources


class Resource:
    def __init__(self, name, kind, group, version, namespaced, singular,
                 short=(), categories=(), fields=()):
        self.name = name
        self.kind = kind
        self.group = group
        self.version = version
        self.namespaced = namespaced
        self.singular = singular
        self.short = list(short)
        self.categories = list(categories)
        # field selectors the real apiserver accepts for this resource
        self.fields = ["metadata.name", "metadata.namespace"] + list(fields)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self):
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def discovery(self):
        d = {"name": self.name, "singularName": self.singular,
             "namespaced": self.namespaced, "kind": self.kind,
             "verbs": ["get", "list", "watch"]}
        if self.short:
            d["shortNames"] = self.short
        if self.categories:
            d["categories"] = self.categories
        d["storageVersionHash"] = base64.b64encode(
                self.name.encode()[:8].ljust(8, b"=")).decode()
        return d

    def discovery_v2(self):
        d = {"resource": self.name,
             "responseKind": {"group": self.group, "version": self.version,
                              "kind": self.kind},
             "scope": "Namespaced" if self.namespaced else "Cluster",
             "singularResource": self.singular,
             "verbs": ["get", "list", "watch"]}
        if self.short:
            d["shortNames"] = self.short
        if self.categories:
            d["categories"] = self.categories
        return d


RESOURCES = {r.name: r for r in [
        Resource("namespaces", "Namespace", "", "v1", False, "namespace",
                 short=["ns"], fields=["status.phase"]),
        Resource("services", "Service", "", "v1", True, "service",
                 short=["svc"], categories=["all"],
                 fields=["spec.clusterIP", "spec.type"]),
        Resource("endpoints", "Endpoints", "", "v1", True, "endpoints",
                 short=["ep"]),
        Resource("pods", "Pod", "", "v1", True, "pod", short=["po"],
                 categories=["all"],
                 fields=["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                         "spec.serviceAccountName", "spec.hostNetwork",
                         "status.phase", "status.podIP", "status.podIPs",
                         "status.nominatedNodeName"]),
        Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True,
                 "endpointslice", fields=["addressType"]),
]}
KIND_TO_RESOURCE = {r.kind: r for r in RESOURCES.values()}
GROUPS = {"discovery.k8s.io": ["v1"]}

# ------------------------------------------------------------------ errors


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
           404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable",
           409: "Conflict", 410: "Expired", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}
MESSAGES = {429: "Too many requests, please try again later.",
            500: "Internal error occurred: fake injected failure",
            503: "the server is currently unable to handle the request",
            504: "the server was unable to return a response in the time allotted"}


class APIError(Exception):
    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self):
        return status_object(self.code, self.message, self.reason, self.details)


def status_object(code, message, reason=None, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
          "status": "Failure", "message": message,
          "reason": reason or REASONS.get(code, "Unknown"), "code": code}
    if details:
        st["details"] = details
    return st


def expired_watch_status(rv, oldest):
    return status_object(410, f"too old resource version: {rv} ({oldest + 1})",
                         "Expired")


CONTINUE_EXPIRED = (
        "The provided continue parameter is too old to display a consistent list "
        "result. You can start a new list without the continue parameter, or use "
        "the continue token in this response to retrieve the remainder of the "
        "results. Continuing with the provided token results in an inconsistent "
        "list - objects that were created, modified, or deleted between the time "
        "the first chunk was returned and now may show up in the list.")

# ------------------------------------------------------------------ selectors

_LTOK = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")
_LNAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LVALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def parse_label_selector(text):
    """Parse a label selector (k8s.io/apimachinery labels.Parse grammar).
    Returns a list of (key, op, values); raises APIError 400."""
    def bad(msg):
        raise APIError(400, f"unable to parse requirement: {msg}")
    text = text or ""
    toks = []
    pos = 0
    while pos < len(text):
        m = _LTOK.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            bad(f"invalid character at {pos} in {text!r}")
        toks.append(m.group(1))
        pos = m.end()
    reqs = []
    i = 0

    def key_ok(k):
        if not _LNAME.match(k) or len(k) > 317:
            bad(f"invalid label key {k!r}")
        return k

    def val_ok(v):
        if not _LVALUE.match(v):
            bad(f"invalid label value: {v!r}")
        return v
    while i < len(toks):
        t = toks[i]
        if t == "!":
            if i + 1 >= len(toks):
                bad("missing key after '!'")
            reqs.append((key_ok(toks[i + 1]), "!", ()))
            i += 2
        elif t in ("=", "==", "!=", "(", ")", ",", ">", "<"):
            bad(f"found '{t}', expected: !, identifier, or 'end of string'")
        else:
            key = key_ok(t)
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append((key, "exists", ()))
            else:
                op = toks[i]
                i += 1
                if op in ("=", "==", "!="):
                    val = ""
                    if i < len(toks) and toks[i] != ",":
                        val = toks[i]
                        i += 1
                    reqs.append((key, "!=" if op == "!=" else "=", (val_ok(val),)))
                elif op in ("in", "notin"):
                    if i >= len(toks) or toks[i] != "(":
                        bad(f"found '{toks[i] if i < len(toks) else 'end'}', expected: '('")
                    i += 1
                    vals = []
                    while True:
                        if i >= len(toks):
                            bad("missing ')'")
                        if toks[i] == ")":
                            i += 1
                            break
                        if toks[i] == ",":
                            if not vals or toks[i - 1] == ",":
                                vals.append("")
                            i += 1
                            continue
                        vals.append(val_ok(toks[i]))
                        i += 1
                    if not vals:
                        bad("for 'in', 'notin' operators, values set can't be empty")
                    reqs.append((key, op, tuple(vals)))
                elif op in (">", "<"):
                    if i >= len(toks):
                        bad("missing value")
                    try:
                        int(toks[i])
                    except ValueError:
                        bad("for 'Gt', 'Lt' operators, the value must be an integer")
                    reqs.append((key, op, (toks[i],)))
                    i += 1
                else:
                    bad(f"found '{op}', expected: '=', '!=', '==', 'in', notin'")
        if i < len(toks):
            if toks[i] != ",":
                bad(f"found '{toks[i]}', expected: ',' or 'end of string'")
            i += 1
            if i >= len(toks):
                bad("found 'end of string', expected: identifier")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        have = key in labels
        v = labels.get(key)
        if op == "exists":
            ok = have
        elif op == "!":
            ok = not have
        elif op == "=":
            ok = have and v == vals[0]
        elif op == "!=":
            ok = not have or v != vals[0]
        elif op == "in":
            ok = have and v in vals
        elif op == "notin":
            ok = not have or v not in vals
        else:  # > <
            try:
                lv = int(v)
            except (TypeError, ValueError):
                return False
            ok = lv > int(vals[0]) if op == ">" else lv < int(vals[0])
        if not ok:
            return False
    return True


def _split_unescaped(text, sep):
    out, cur, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _unescape(v):
    return re.sub(r"\\(.)", r"\1", v)


def parse_field_selector(text, res):
    """fields.ParseSelector + the per-resource field-label check."""
    reqs = []
    if not text:
        return reqs
    for part in _split_unescaped(text, ","):
        if part == "":
            continue
        m = re.match(r"^((?:[^=!\\]|\\.)*)(==|!=|=)(.*)$", part)
        if not m:
            raise APIError(400, f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, val = m.group(1), m.group(2), _unescape(m.group(3))
        if field not in res.fields:
            only = ", ".join(f'"{f}"' for f in res.fields)
            raise APIError(400, f'"{field}" is not a known field selector: only {only}')
        reqs.append((field, "!=" if op == "!=" else "=", val))
    return reqs


def field_value(obj, field):
    cur = obj
    for part in field.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if field == "status.podIPs" and isinstance(cur, list):
        return ",".join(p.get("ip", "") for p in cur if isinstance(p, dict))
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def fields_match(reqs, obj):
    for field, op, val in reqs:
        have = field_value(obj, field)
        if field == "status.podIPs":
            ok = val in have.split(",")
        else:
            ok = have == val
        if (op == "=") != ok:
            return False
    return True


class Selector:
    def __init__(self, res, q):
        self.labels = parse_label_selector(q.get("labelSelector", ""))
        self.fields = parse_field_selector(q.get("fieldSelector", ""), res)

    @property
    def empty(self):
        return not self.labels and not self.fields

    def match(self, obj):
        if obj is None:
            return False
        md = obj.get("metadata") or {}
        return labels_match(self.labels, md.get("labels")) and fields_match(self.fields, obj)

# ------------------------------------------------------------------ formats


def human_age(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        return f"{h // (24 * 365)}y{(h // 24) % 365}d"
    return f"{h // (24 * 365)}y"


def parse_time(ts):
    try:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        try:
            return datetime.datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _age(obj):
    t = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_age(time.time() - t)


def _col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt,
            "description": desc or name, "priority": priority}


AGE_DESC = ("CreationTimestamp is a timestamp representing the server time when "
            "this object was created.")
NAME_COL = _col("Name", fmt="name", desc="Name must be unique within a namespace.")


def _svc_cells(o):
    spec = o.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    cip = spec.get("clusterIP") or "<none>"
    ext = "<none>"
    if typ == "ExternalName":
        ext = spec.get("externalName") or "<none>"
    elif spec.get("externalIPs"):
        ext = ",".join(spec["externalIPs"])
    elif typ == "LoadBalancer":
        ing = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ext = ",".join(i.get("ip") or i.get("hostname") or "" for i in ing) or "<pending>"
    ports = []
    for p in spec.get("ports") or []:
        s = str(p.get("port", ""))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        ports.append(f"{s}/{p.get('protocol', 'TCP')}")
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [typ, cip, ext, ",".join(ports) or "<none>", _age(o), sel or "<none>"]


def _pod_cells(o):
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or []) or len(cs)
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    phase = st.get("phase") or "Unknown"
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{total}", phase, restarts, _age(o), st.get("podIP") or "<none>",
            (o.get("spec") or {}).get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _eps_cells(o):
    ports = [str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None]
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    shown = ",".join(addrs[:3]) if addrs else "<unset>"
    if len(addrs) > 3:
        shown += f" + {len(addrs) - 3} more..."
    return [o.get("addressType", ""), ",".join(ports) or "<unset>", shown, _age(o)]


def _ep_cells(o):
    out = []
    for sub in o.get("subsets") or []:
        for a in sub.get("addresses") or []:
            for p in sub.get("ports") or [{}]:
                out.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    shown = ",".join(out[:3]) if out else "<none>"
    if len(out) > 3:
        shown += f" + {len(out) - 3} more..."
    return [shown, _age(o)]


TABLES = {
        "namespaces": ([NAME_COL, _col("Status", desc="The status of the namespace"),
                        _col("Age", desc=AGE_DESC)],
                       lambda o: [(o.get("status") or {}).get("phase") or "Active", _age(o)]),
        "services": ([NAME_COL, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                      _col("Port(s)"), _col("Age", desc=AGE_DESC),
                      _col("Selector", priority=1)], _svc_cells),
        "endpoints": ([NAME_COL, _col("Endpoints"), _col("Age", desc=AGE_DESC)], _ep_cells),
        "pods": ([NAME_COL, _col("Ready"), _col("Status"), _col("Restarts", typ="string"),
                  _col("Age", desc=AGE_DESC), _col("IP", priority=1), _col("Node", priority=1),
                  _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
                 _pod_cells),
        "endpointslices": ([NAME_COL, _col("AddressType"), _col("Ports"),
                            _col("Endpoints"), _col("Age", desc=AGE_DESC)], _eps_cells),
}


def negotiate(accept, discovery=False):
    """Pick the output format from an Accept header like kube-apiserver.
    Returns (format, content_type): format is "json", "table",
    "meta" (PartialObjectMetadata) or "discovery-v2"; raises APIError 406."""
    if not accept:
        return "json", JSON_CT
    for rng in accept.split(","):
        parts = [p.strip() for p in rng.split(";")]
        mt = parts[0].lower()
        params = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().lower()] = v.strip()
        if mt not in ("application/json", "application/*", "*/*"):
            continue
        as_ = params.get("as")
        if as_ is None:
            return "json", JSON_CT
        g, v = params.get("g"), params.get("v")
        if as_ == "Table" and g == "meta.k8s.io" and v in ("v1", "v1beta1") and not discovery:
            return "table", f"application/json;as=Table;v={v};g=meta.k8s.io"
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList") and \
                g == "meta.k8s.io" and v in ("v1", "v1beta1") and not discovery:
            return "meta", f"application/json;as={as_};v={v};g=meta.k8s.io"
        if as_ == "APIGroupDiscoveryList" and g == "apidiscovery.k8s.io" and \
                v in ("v2", "v2beta1") and discovery == "aggregated":
            return "discovery-v2", f"application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
    raise APIError(406, "only the following media types are accepted: application/json")


def with_kind(res, obj):
    o = copy.deepcopy(obj)
    out = {"kind": res.kind, "apiVersion": res.api_version}
    out.update({k: v for k, v in o.items() if k not in ("kind", "apiVersion")})
    return out


def partial_meta(res, obj, v="v1"):
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{v}",
            "metadata": copy.deepcopy(obj.get("metadata") or {})}


def table_of(res, objs, rv, q, cont=None, remaining=None, headers=True):
    cols, cells = TABLES[res.name]
    include = q.get("includeObject", "Metadata")
    rows = []
    for o in objs:
        row = {"cells": [(o.get("metadata") or {}).get("name", "")] + cells(o)}
        if include == "Object":
            row["object"] = with_kind(res, o)
        elif include != "None":
            row["object"] = partial_meta(res, o)
        rows.append(row)
    md = {"resourceVersion": str(rv)}
    if cont:
        md["continue"] = cont
    if remaining is not None:
        md["remainingItemCount"] = remaining
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md}
    if headers:
        t["columnDefinitions"] = cols
    t["rows"] = rows
    return t


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))

# ------------------------------------------------------------------ manifests


def _yaml_loader():
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        pass
    # keep timestamps as strings, as the API server does
    Loader.yaml_implicit_resolvers = {
            k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
            for k, v in base.yaml_implicit_resolvers.items()}
    return Loader


def parse_manifest_text(text):
    """Objects from JSON (object, array, kind: *List, or JSON lines) or
    multi-document YAML (needs python3-yaml)."""
    docs = None
    s = text.lstrip()
    if s.startswith("{") or s.startswith("["):
        try:
            docs = [json.loads(s)]
        except json.JSONDecodeError:
            try:
                docs = [json.loads(line) for line in s.splitlines() if line.strip()]
            except json.JSONDecodeError:
                docs = None
    if docs is None:
        if yaml is None:
            raise ValueError("YAML manifest but python3-yaml is not installed; use JSON")
        docs = list(yaml.load_all(text, Loader=_yaml_loader()))
    return flatten_docs(docs)


def flatten_docs(docs):
    """Objects of manifest documents; `kind: *List` documents unpacked."""
    out = []

    def add(doc, list_kind=None):
        if doc is None:
            return
        if isinstance(doc, list):
            for d in doc:
                add(d, list_kind)
            return
        if not isinstance(doc, dict):
            raise ValueError(f"manifest document is not an object: {doc!r:.60}")
        kind = doc.get("kind") or ""
        if kind.endswith("List") and isinstance(doc.get("items"), list):
            inner = kind[:-4] or None
            for d in doc["items"]:
                add(d, inner)
            return
        if not kind and list_kind:
            doc = dict(doc, kind=list_kind)
        out.append(doc)
    for d in docs:
        add(d)
    return out

# ------------------------------------------------------------------ the server


class Fault:
    _ids = 0

    def __init__(self, kind, resource=None, verb=None, count=None, **params):
        if kind not in ("down", "hang", "status", "empty_lists", "force_410", "slow"):
            raise ValueError(f"unknown fault {kind!r}")
        if resource is not None and resource not in RESOURCES:
            raise ValueError(f"unknown resource {resource!r}")
        if verb is not None and verb not in ("list", "watch", "get", "discovery"):
            raise ValueError(f"unknown verb {verb!r}")
        Fault._ids += 1
        self.id = Fault._ids
        self.kind = kind
        self.resource = resource
        self.verb = verb
        self.count = count
        self.params = params

    def matches(self, resource, verb):
        return (self.resource is None or self.resource == resource) and \
            (self.verb is None or self.verb == verb)

    def to_dict(self):
        d = {"id": self.id, "kind": self.kind, "resource": self.resource,
             "verb": self.verb, "count": self.count}
        d.update(self.params)
        return d


class Event:
    __slots__ = ("rv", "resource", "type", "obj", "prev")

    def __init__(self, rv, resource, typ, obj, prev):
        self.rv = rv
        self.resource = resource
        self.type = typ
        self.obj = obj
        self.prev = prev


def _key(res, obj):
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}" if res.namespaced else md.get("name", "")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, api, control_only):
        self.api = api
        self.control_only = control_only
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        if self.api.verbose:
            super().handle_error(request, client_address)

    def kill_connections(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Abort(Exception):
    """End the connection without a (further) response."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""

    def setup(self):
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.server.api.verbose:
            sys.stderr.write("fakeapi: " + (fmt % args) + "\n")

    # -- plumbing

    def send_body(self, code, body, ctype=JSON_CT, headers=None):
        if not isinstance(body, (bytes, bytearray)):
            body = dumps(body).encode()
        api = self.server.api
        gz = False
        if api.gzip_threshold is not None and len(body) > api.gzip_threshold and \
                "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, 1)
            gz = True
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.code = code

    def send_error_status(self, err):
        self.send_body(err.code, err.status(), headers=err.headers)

    def client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def reset_connection(self):
        """Abortive close: RST to the peer."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.wfile.close()
            self.rfile.close()
            self.connection.close()
        except (OSError, ValueError):
            pass
        self.close_connection = True
        raise _Abort()

    def eof_connection(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        raise _Abort()

    # -- entry points

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        if path.startswith("/_control"):
            return self._control(method, path, q, body)
        if self.server.control_only:
            return self.send_error_status(APIError(404, "the control port serves /_control/ only"))
        self.code = 0
        self.info = {"resource": "", "verb": "", "namespace": None}
        self.applied = []
        self.log_entry = None
        self.req = (method, url, q, time.monotonic())
        try:
            route = api._route(path, q)
            self.info.update(resource=route[1].name if route[1] else "", verb=route[0],
                             namespace=route[2])
            self._apply_faults(route)
            if method != "GET":
                raise APIError(405, f"the fake API server serves reads only ({method} {path})")
            self._serve(route, q)
        except APIError as e:
            self.send_error_status(e)
        except _Abort:
            pass
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so, like the apiserver
            if api.verbose:
                import traceback
                traceback.print_exc()
            if self.code == 0:
                self.send_error_status(APIError(500, f"fakeapi internal error: {e!r}"))
            else:
                self.close_connection = True
        finally:
            api._log_request(self)

    # -- faults

    def _apply_faults(self, route):
        """Apply injected faults (names recorded in self.applied)."""
        api = self.server.api
        verb, res = route[0], route[1]
        rname = res.name if res else None
        # per request: the handler lives as long as the keep-alive connection
        self.fault_flags = set()
        for f in api._take_faults(rname, verb):
            self.applied.append(f.kind if f.kind != "status" else f"status {f.params.get('code', 500)}")
            if f.kind == "slow":
                time.sleep(f.params.get("ms", 0) / 1000.0)
            elif f.kind == "down":
                self.reset_connection()
            elif f.kind == "hang":
                self._hang()
            elif f.kind == "status":
                code = int(f.params.get("code", 500))
                hdrs = {}
                details = None
                ra = f.params.get("retry_after")
                if ra is not None:
                    hdrs["Retry-After"] = str(ra)
                    details = {"retryAfterSeconds": int(ra)}
                msg = f.params.get("message") or MESSAGES.get(code, f"fake injected {code}")
                raise APIError(code, msg, f.params.get("reason"), details, hdrs)
            else:  # empty_lists, force_410: interpreted by the verb
                self.fault_flags = getattr(self, "fault_flags", set()) | {f.kind}

    def _hang(self):
        """Never answer: until the client gives up, or heal/clear_fault/down
        (then the connection is closed without a response)."""
        api = self.server.api
        api._log_request(self)  # counted now, with code 0 (no answer)
        gen = (api._down_gen, api._heal_gen)
        while not api._stopping and (api._down_gen, api._heal_gen) == gen:
            if self.client_gone():
                break
            time.sleep(0.05)
        self.close_connection = True
        raise _Abort()

    # -- API

    def _serve(self, route, q):
        api = self.server.api
        verb, res, ns, name = route
        if verb == "discovery":
            return self._discovery(name)
        if verb == "get":
            fmt, ctype = negotiate(self.headers.get("Accept"))
            obj = api._get(res, ns, name)
            if fmt == "table":
                return self.send_body(200, table_of(res, [obj], api.resource_version, q), ctype)
            if fmt == "meta":
                return self.send_body(200, partial_meta(res, obj), ctype)
            return self.send_body(200, with_kind(res, obj))
        if verb == "list":
            fmt, ctype = negotiate(self.headers.get("Accept"))
            flags = getattr(self, "fault_flags", set())
            objs, rv, cont, remaining = api._list(res, ns, q, "empty_lists" in flags,
                                                  "force_410" in flags)
            if fmt == "table":
                return self.send_body(200, table_of(res, objs, rv, q, cont, remaining), ctype)
            md = {"resourceVersion": str(rv)}
            if cont:
                md["continue"] = cont
            if remaining is not None:
                md["remainingItemCount"] = remaining
            if fmt == "meta":
                items = [partial_meta(res, o) for o in objs]
                return self.send_body(200, {"kind": "PartialObjectMetadataList",
                                            "apiVersion": "meta.k8s.io/v1",
                                            "metadata": md, "items": items}, ctype)
            items = []
            for o in objs:  # list items carry no kind/apiVersion
                items.append({k: v for k, v in o.items() if k not in ("kind", "apiVersion")})
            return self.send_body(200, {"kind": res.kind + "List",
                                        "apiVersion": res.api_version,
                                        "metadata": md, "items": items})
        if verb == "watch":
            fmt, ctype = negotiate(self.headers.get("Accept"))
            return self._watch(res, ns, q, fmt, ctype)
        raise APIError(404, "the server could not find the requested resource")

    def _discovery(self, what):
        api = self.server.api
        if what == "version":
            return self.send_body(200, api.version_info())
        if what.startswith("openapi"):
            raise APIError(404, "the server could not find the requested resource")
        fmt, ctype = negotiate(self.headers.get("Accept"),
                               "aggregated" if api.aggregated_discovery else True)
        if what == "api":
            if fmt == "discovery-v2":
                return self.send_body(200, api.discovery_v2(""), ctype)
            return self.send_body(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{
                                                "clientCIDR": "0.0.0.0/0",
                                                "serverAddress": f"{HOST}:{api.port}"}]})
        if what == "apis":
            if fmt == "discovery-v2":
                return self.send_body(200, api.discovery_v2("apis"), ctype)
            return self.send_body(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": [api.group_info(g) for g in GROUPS]})
        if what.startswith("group:"):
            return self.send_body(200, dict(api.group_info(what[6:]), kind="APIGroup",
                                            apiVersion="v1"))
        if what.startswith("gv:"):
            gv = what[3:]
            rs = [r.discovery() for r in RESOURCES.values() if r.api_version == gv]
            return self.send_body(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": gv, "resources": rs})
        raise APIError(404, "the server could not find the requested resource")

    # -- watch

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, typ, obj):
        self._chunk(dumps({"type": typ, "object": obj}).encode() + b"\n")

    def _watch(self, res, ns, q, fmt, ctype):
        api = self.server.api
        sel = Selector(res, q)
        rv_param = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks", "") in ("true", "1", "True")
        send_initial = q.get("sendInitialEvents", "") in ("true", "1", "True")
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else api.watch_timeout
        except ValueError:
            raise APIError(400, f"invalid timeoutSeconds {q['timeoutSeconds']!r}")
        if send_initial and q.get("resourceVersionMatch") != "NotOlderThan":
            raise APIError(422, "sendInitialEvents: resourceVersionMatch must be NotOlderThan")
        flags = getattr(self, "fault_flags", set())
        expired = None
        initial = []
        with api.lock:
            start = api._rv
            if rv_param in ("", "0") or send_initial:
                if rv_param not in ("", "0") and int_or_400(rv_param) > api._rv:
                    raise APIError(504, "Too large resource version",
                                   details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                        "message": "Too large resource version"}]})
                if rv_param not in ("", "0") and "force_410" in flags:
                    expired = expired_watch_status(rv_param, api._rv)
                else:
                    initial = [o for o in api._objects_sorted(res, ns) if sel.match(o)]
            else:
                n = int_or_400(rv_param)
                if "force_410" in flags or n < api._oldest_rv:
                    expired = expired_watch_status(n, max(api._oldest_rv, n))
                else:
                    api._wait_for_rv(n)  # a future RV: wait, then 504 like the cacher
                start = n
            drop_gen, down_gen = api._drop_gen, api._down_gen
        wfmt = "table" if fmt == "table" else ("meta" if fmt == "meta" else "json")
        with api.lock:
            api._watches_open += 1
            api._watches_total += 1
        try:
            self._stream(api, res, ns, q, wfmt, ctype, sel, bookmarks, send_initial, timeout,
                         expired, initial, start, drop_gen, down_gen)
        finally:
            with api.lock:
                api._watches_open -= 1

    def _stream(self, api, res, ns, q, wfmt, ctype, sel, bookmarks, send_initial, timeout,
                expired, initial, start, drop_gen, down_gen):
        self.send_response(200)
        self.send_header("Content-Type", ctype if wfmt != "json" else JSON_CT)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.code = 200
        self.stat_events = 0
        self.stat_bookmarks = 0
        self.watch_end = "client"  # unless set below
        api._log_request(self)  # counted when the stream starts
        first_table = [True]

        def render(obj):
            if wfmt == "table":
                t = table_of(res, [obj], (obj.get("metadata") or {}).get("resourceVersion", ""),
                             q, headers=first_table[0])
                first_table[0] = False
                return t
            if wfmt == "meta":
                return partial_meta(res, obj)
            return with_kind(res, obj)

        def bookmark(rv, annotations=None):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if annotations:
                md["annotations"] = annotations
            if wfmt == "table":
                obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": str(rv)}, "rows": []}
            else:
                obj = {"kind": res.kind if wfmt == "json" else "PartialObjectMetadata",
                       "apiVersion": res.api_version if wfmt == "json" else "meta.k8s.io/v1",
                       "metadata": md}
            self._event("BOOKMARK", obj)
            self.stat_bookmarks += 1
        if expired is not None:
            self._event("ERROR", expired)
            self.stat_events += 1
            self.watch_end = "expired"
            self._chunk(b"")
            return
        for o in initial:
            self._event("ADDED", render(o))
            self.stat_events += 1
        if send_initial and bookmarks:
            bookmark(start, {"k8s.io/initial-events-end": "true"})
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + api.bookmark_interval
        # the apiserver also bookmarks shortly (2 s) before the deadline
        final_bm = deadline - min(2.0, timeout / 4) if bookmarks else None
        last = start
        while True:
            if api._stopping or api._down_gen != down_gen:
                self.watch_end = "down"
                self.eof_connection()
            if api._drop_gen != drop_gen:
                self.watch_end = "dropped"
                if api._drop_mode == "reset":
                    self.reset_connection()
                if api._drop_mode == "clean":
                    self._chunk(b"")
                    raise _Abort()
                self.eof_connection()
            if api._has_fault("hang", res.name, "watch"):
                # a hung server: the stream stays open, nothing flows
                if self.client_gone():
                    raise _Abort()
                time.sleep(0.05)
                next_bm = time.monotonic() + api.bookmark_interval
                continue
            now = time.monotonic()
            if now >= deadline:
                self.watch_end = "timeout"
                self._chunk(b"")
                return
            with api.lock:
                if api._rv == last and api._drop_gen == drop_gen:
                    wait = min(0.2, max(0.0, deadline - now))
                    if bookmarks:
                        wait = min(wait, max(0.0, next_bm - now))
                    if final_bm is not None:
                        wait = min(wait, max(0.0, final_bm - now))
                    api.cond.wait(wait)
                if last < api._oldest_rv and api._events_between(last, api._oldest_rv, res):
                    expired = expired_watch_status(last, api._oldest_rv)
                    evs = None
                else:
                    evs = api._events_after(last, res)
                cur = api._rv
            if evs is None:
                self._event("ERROR", expired)
                self.watch_end = "expired"
                self._chunk(b"")
                return
            for ev in evs:
                out = _filter_event(ev, ns, sel)
                if out:
                    self._event(out[0], render(out[1]))
                    self.stat_events += 1
            last = cur
            if bookmarks and time.monotonic() >= next_bm:
                bookmark(last)
                next_bm = time.monotonic() + api.bookmark_interval
            if final_bm is not None and time.monotonic() >= final_bm:
                bookmark(last)
                final_bm = None
                next_bm = max(next_bm, deadline)
            if self.client_gone():
                raise _Abort()

    # -- control

    def _control(self, method, path, q, body):
        api = self.server.api
        try:
            args = json.loads(body) if body else {}
            if not isinstance(args, dict):
                raise ValueError("control body must be a JSON object")
            args.update({k: v for k, v in q.items() if k not in args})
            op = path[len("/_control/"):] if path.startswith("/_control/") else ""
            if op == "stats":
                result = api.stats()
            elif op == "state":
                result = api.state()
            elif op == "reset_stats":
                api.reset_stats()
                result = {}
            elif op == "load":
                if "path" in args:
                    result = api.load(args["path"])
                elif "objects" in args:
                    result = api.load(args["objects"])
                else:
                    result = api.load_text(args.get("text", ""))
            elif op == "apply":
                result = api.apply(args["object"])
            elif op == "delete":
                result = api.delete(args.get("resource") or args.get("kind"),
                                    args["name"], args.get("namespace"))
            elif op == "get":
                result = api.get_object(args.get("resource") or args.get("kind"),
                                        args["name"], args.get("namespace"))
            elif op == "compact":
                rv = args.get("rv")
                result = {"oldest_rv": api.compact(int(rv) if rv is not None else None)}
            elif op == "config":
                result = api.configure(**args)
            elif op == "fault":
                kind = args.pop("kind", None) or args.pop("fault")
                f = api._make_fault(kind, **args)
                if not self.server.control_only and api._global_down(f):
                    # `down` asked on the API port: spare this connection
                    # from the kill, answer, then close it
                    with self.server.conns_lock:
                        self.server.conns.discard(self.connection)
                    self.close_connection = True
                api._register(f)
                api._enact(f)
                result = {"id": f.id}
            elif op == "clear_fault":
                api.clear_fault(int(args["id"]))
                result = {}
            elif op == "drop_watches":
                result = {"dropped": api.drop_watches(args.get("mode", "eof"))}
            elif op == "heal":
                api.heal()
                result = {}
            else:
                raise KeyError(f"unknown control operation {op!r}")
            self.send_body(200, result)
        except (KeyError, ValueError, TypeError) as e:
            self.send_body(400, {"error": str(e)})

# ------------------------------------------------------------------ helpers


def int_or_400(v):
    try:
        n = int(v)
        if n < 0:
            raise ValueError
        return n
    except (TypeError, ValueError):
        raise APIError(400, f"invalid resource version: {v!r}")


def _filter_event(ev, ns, sel):
    """Map one store event to what a watcher with namespace ns and selector
    sel sees (objects entering/leaving the selector become ADDED/DELETED)."""
    def visible(o):
        if o is None:
            return False
        if ns is not None and (o.get("metadata") or {}).get("namespace") != ns:
            return False
        return sel.match(o)
    if ev.type == "ADDED":
        return ("ADDED", ev.obj) if visible(ev.obj) else None
    if ev.type == "DELETED":
        return ("DELETED", ev.obj) if visible(ev.prev) else None
    was, now = visible(ev.prev), visible(ev.obj)
    if was and now:
        return ("MODIFIED", ev.obj)
    if now:
        return ("ADDED", ev.obj)
    if was:
        return ("DELETED", ev.obj)
    return None


def encode_continue(rv, start):
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        if d.get("v") != "meta.k8s.io/v1" or not isinstance(d.get("rv"), int) or \
                not isinstance(d.get("start"), str):
            raise ValueError
        return d["rv"], d["start"]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, f"continue key is not valid: {tok[:40]!r}")


class FaultShortcuts:
    """Named shortcuts over fault(kind, **params), shared by FakeAPI (in
    process) and FakeAPIClient (over /_control/)."""

    def down(self, mode="refuse", **kw):
        return self.fault("down", mode=mode, **kw)

    def hang(self, **kw):
        return self.fault("hang", **kw)

    def status(self, code=500, **kw):
        return self.fault("status", code=code, **kw)

    def throttle(self, retry_after=1, **kw):
        return self.fault("status", code=429, retry_after=retry_after, **kw)

    def empty_lists(self, **kw):
        return self.fault("empty_lists", **kw)

    def force_410(self, **kw):
        return self.fault("force_410", **kw)

    def slow(self, ms, **kw):
        return self.fault("slow", ms=ms, **kw)


class FakeAPI(FaultShortcuts):
    """The fake API server.  Thread-safe; every method may be called while
    serving.  Ports are chosen on start() (0 = free port)."""

    def __init__(self, port=0, control_port=0, bookmark_interval=1.0,
                 history_size=10000, watch_timeout=1800.0, paginate_rv0=False,
                 aggregated_discovery=True, gzip_threshold=128 * 1024,
                 version="v1.32.4", start_rv=100, verbose=False):
        self.requested_port = port
        self.requested_control_port = control_port
        self.bookmark_interval = bookmark_interval
        self.history_size = history_size      # events kept for watch resume / continue
        self.watch_timeout = watch_timeout    # when timeoutSeconds is not given
        self.paginate_rv0 = paginate_rv0      # False: RV=0 lists ignore limit (watch cache)
        self.aggregated_discovery = aggregated_discovery
        self.gzip_threshold = gzip_threshold  # like APIResponseCompression
        self.version = version
        self.too_large_wait = 3.0             # wait for a future RV before 504
        self.verbose = verbose
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._rv = start_rv
        self._oldest_rv = start_rv            # every event with rv > this is kept
        self._objects = {r: {} for r in RESOURCES}
        self._sorted = {}                     # resource -> sorted keys (cache)
        self._events = []
        self._event_rvs = []
        self._faults = []
        self._drop_gen = 0
        self._drop_mode = "eof"
        self._down_gen = 0
        self._heal_gen = 0
        self._trimmed = {}                    # resource -> highest rv trimmed from history
        self._watches_open = 0
        self._watches_total = 0
        self._stopping = False
        self._server = None
        self._control = None
        self._threads = []
        self.port = None
        self.control_port = None
        self.reset_stats()

    # -- lifecycle

    def start(self):
        self._control = self._serve_on(self.requested_control_port, True)
        self.control_port = self._control.server_address[1]
        self._server = self._serve_on(self.requested_port, False)
        self.port = self._server.server_address[1]
        return self.port

    def _serve_on(self, port, control_only):
        srv = _Server((HOST, port), Handler, self, control_only)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                             name="fakeapi-control" if control_only else "fakeapi", daemon=True)
        t.start()
        self._threads.append(t)
        return srv

    def stop(self):
        self._stopping = True
        with self.cond:
            self.cond.notify_all()
        for srv in (self._server, self._control):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
                srv.kill_connections()
        self._server = self._control = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    @property
    def control_url(self):
        return f"http://{HOST}:{self.control_port}"

    @property
    def resource_version(self):
        return str(self._rv)

    def kubeconfig(self, path):
        """Write a kubeconfig (plain HTTP, no auth) pointing at this server."""
        write_kubeconfig(path, self.url)
        return path

    # -- info

    def version_info(self):
        m = re.match(r"v(\d+)\.(\d+)", self.version)
        return {"major": m.group(1), "minor": m.group(2), "gitVersion": self.version,
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23.8", "compiler": "gc", "platform": "linux/amd64"}

    def group_info(self, group):
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUPS[group]]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def discovery_v2(self, which):
        def versions(group):
            out = []
            for v in (["v1"] if not group else GROUPS[group]):
                rs = [r.discovery_v2() for r in RESOURCES.values()
                      if r.group == group and r.version == v]
                out.append({"version": v, "resources": rs, "freshness": "Current"})
            return out
        if which == "":
            items = [{"metadata": {"creationTimestamp": None}, "versions": versions("")}]
        else:
            items = [{"metadata": {"name": g, "creationTimestamp": None},
                      "versions": versions(g)} for g in GROUPS]
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {}, "items": items}

    # -- routing

    def _route(self, path, q):
        """(verb, Resource|None, namespace|None, name|None) for an API path."""
        if path in ("/version", "/api", "/apis"):
            return ("discovery", None, None, path[1:])
        if path.startswith("/openapi"):
            return ("discovery", None, None, "openapi")
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) >= 2:
            if segs[1] != "v1":
                raise APIError(404, "the server could not find the requested resource")
            group, rest = "", segs[2:]
            if not rest:
                return ("discovery", None, None, "gv:v1")
        elif segs[0] == "apis" and len(segs) >= 2:
            group = segs[1]
            if group not in GROUPS:
                raise APIError(404, "the server could not find the requested resource")
            if len(segs) == 2:
                return ("discovery", None, None, "group:" + group)
            if segs[2] not in GROUPS[group]:
                raise APIError(404, "the server could not find the requested resource")
            rest = segs[3:]
            if not rest:
                return ("discovery", None, None, f"gv:{group}/{segs[2]}")
        else:
            raise APIError(404, "the server could not find the requested resource")
        watch = False
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        if q.get("watch", "") in ("1", "true", "True"):
            watch = True

        def res_of(name):
            r = RESOURCES.get(name)
            if r is None or r.group != group:
                raise APIError(404, "the server could not find the requested resource")
            return r
        ns = name = None
        if len(rest) == 1:
            res = res_of(rest[0])
        elif len(rest) == 2 and rest[0] == "namespaces" and group == "":
            res, name = RESOURCES["namespaces"], rest[1]
        elif len(rest) == 2:
            res, name = res_of(rest[0]), rest[1]
            if res.namespaced:
                raise APIError(404, "the server could not find the requested resource")
        elif len(rest) in (3, 4) and rest[0] == "namespaces":
            ns, res = rest[1], res_of(rest[2])
            if not res.namespaced:
                raise APIError(404, "the server could not find the requested resource")
            name = rest[3] if len(rest) == 4 else None
        else:
            raise APIError(404, "the server could not find the requested resource")
        if name is not None:
            if watch:  # watch of one object = fieldSelector metadata.name
                q["fieldSelector"] = ",".join(x for x in (q.get("fieldSelector"),
                                                           f"metadata.name={name}") if x)
                return ("watch", res, ns, None)
            return ("get", res, ns, name)
        return ("watch" if watch else "list", res, ns, None)

    # -- store (callers hold self.lock where noted)

    def _objects_sorted(self, res, ns=None):
        """Current objects of res (in namespace ns) in key order. Lock held."""
        keys = self._sorted.get(res.name)
        if keys is None:
            keys = self._sorted[res.name] = sorted(self._objects[res.name])
        objs = self._objects[res.name]
        if ns is None:
            return [objs[k] for k in keys]
        lo = bisect.bisect_left(keys, ns + "/")
        hi = bisect.bisect_left(keys, ns + "0")  # '0' follows '/'
        return [objs[k] for k in keys[lo:hi]]

    def _state_at(self, res, rv):
        """{key: obj} of res as of resourceVersion rv (needs rv >= oldest)."""
        cur = self._objects[res.name]
        i = bisect.bisect_right(self._event_rvs, rv)
        later = [e for e in self._events[i:] if e.resource == res.name]
        if not later:
            return cur, self._sorted.get(res.name) or sorted(cur)
        state = dict(cur)
        for e in reversed(later):
            k = _key(res, e.obj)
            if e.prev is None:
                state.pop(k, None)
            else:
                state[k] = e.prev
        return state, sorted(state)

    def _events_after(self, rv, res):
        i = bisect.bisect_right(self._event_rvs, rv)
        return [e for e in self._events[i:] if e.resource == res.name]

    def _events_between(self, lo, hi, res):
        """Were events of res with lo < rv <= hi dropped from history?"""
        return hi > lo and (self._trimmed.get(res.name, 0) > lo)

    def _record(self, res, typ, obj, prev):
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        ev = Event(self._rv, res.name, typ, obj, prev)
        self._events.append(ev)
        self._event_rvs.append(self._rv)
        self._sorted.pop(res.name, None)
        if len(self._events) > self.history_size:
            self._trim(len(self._events) - self.history_size)
        self.cond.notify_all()

    def _trim(self, n):
        for e in self._events[:n]:
            self._trimmed[e.resource] = max(self._trimmed.get(e.resource, 0), e.rv)
        self._oldest_rv = self._events[n - 1].rv
        del self._events[:n]
        del self._event_rvs[:n]

    def _wait_for_rv(self, n):
        """Wait (lock held) until the store reaches RV n, else 504 Too large."""
        end = time.monotonic() + self.too_large_wait
        while self._rv < n and time.monotonic() < end:
            self.cond.wait(0.1)
        if self._rv < n:
            raise APIError(504, f"Too large resource version: {n}, current: {self._rv}",
                           "Timeout", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                   "message": "Too large resource version"}],
                                       "retryAfterSeconds": 1})

    def _get(self, res, ns, name):
        with self.lock:
            key = f"{ns}/{name}" if res.namespaced else name
            obj = self._objects[res.name].get(key)
            if obj is None:
                raise APIError(404, f'{res.name}{"." + res.group if res.group else ""} "{name}" not found',
                               details={"name": name, "group": res.group, "kind": res.name})
            return copy.deepcopy(obj)

    def _list(self, res, ns, q, empty, force410):
        sel = Selector(res, q)
        rvp = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        cont = q.get("continue", "")
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise APIError(400, f"invalid limit {q.get('limit')!r}")
        if match and match not in ("Exact", "NotOlderThan"):
            raise APIError(422, f'resourceVersionMatch: Unsupported value: "{match}"')
        if match and rvp == "":
            raise APIError(422, "resourceVersionMatch is forbidden unless resourceVersion is provided")
        if match == "Exact" and rvp == "0":
            raise APIError(422, "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
        if cont and rvp not in ("", "0"):
            raise APIError(400, "specifying resource version is not allowed when using continue")
        if cont and match:
            raise APIError(422, "resourceVersionMatch is forbidden when continue is provided")
        with self.lock:
            if empty:
                self._rv += 1  # a fresh, never-seen resourceVersion
                return [], self._rv, None, None
            start = ""
            if cont:
                rv, start = decode_continue(cont)
                if force410 or rv < self._oldest_rv:
                    raise APIError(410, CONTINUE_EXPIRED, "Expired")
                state, keys = self._state_at(res, rv)
            elif rvp == "0" and not self.paginate_rv0:
                limit = 0  # the watch cache ignores limit for RV=0
                state, keys, rv = self._objects[res.name], None, self._rv
            elif rvp in ("", "0"):
                state, keys, rv = self._objects[res.name], None, self._rv
            else:
                n = int_or_400(rvp)
                if match == "Exact" or (match == "" and limit > 0):
                    if force410 or n < self._oldest_rv:
                        raise APIError(410, "The resourceVersion for the provided list is too old.", "Expired")
                    if n > self._rv:
                        raise APIError(504, f"Too large resource version: {n}, current: {self._rv}",
                                       "Timeout", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                               "message": "Too large resource version"}],
                                                   "retryAfterSeconds": 1})
                    state, keys = self._state_at(res, n)
                    rv = n
                else:
                    self._wait_for_rv(n)
                    state, keys, rv = self._objects[res.name], None, self._rv
            if keys is None:
                keys = self._sorted.get(res.name)
                if keys is None:
                    keys = self._sorted[res.name] = sorted(state)
            lo, hi = 0, len(keys)
            if ns is not None:
                lo = bisect.bisect_left(keys, ns + "/")
                hi = bisect.bisect_left(keys, ns + "0")
            if start:
                lo = max(lo, bisect.bisect_left(keys, start))
            out = []
            i = lo
            while i < hi:
                o = state[keys[i]]
                i += 1
                if sel.match(o):
                    out.append(o)  # stored objects are never mutated: no copy
                    if limit and len(out) >= limit:
                        break
            token = remaining = None
            if limit and len(out) >= limit and i < hi:
                token = encode_continue(rv, keys[i - 1] + "\x00")
                if sel.empty:
                    remaining = hi - i
            return out, rv, token, remaining

    # -- public store API

    def _normalize(self, obj, fresh=False):
        if not isinstance(obj, dict):
            raise ValueError("object must be a JSON object")
        kind = obj.get("kind")
        res = KIND_TO_RESOURCE.get(kind)
        if res is None:
            raise ValueError(f"unsupported kind {kind!r} (serves: {', '.join(KIND_TO_RESOURCE)})")
        if not fresh:  # the caller's dict is not ours to keep
            obj = copy.deepcopy(obj)
        obj["apiVersion"] = res.api_version
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict) or not md.get("name"):
            raise ValueError(f"{kind} without metadata.name")
        if res.namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        if res.name == "namespaces":
            obj.setdefault("status", {}).setdefault("phase", "Active")
            md.setdefault("labels", {}).setdefault("kubernetes.io/metadata.name", md["name"])
        return res, obj

    def apply(self, obj, _fresh=False):
        """Create or replace one object; returns the stored copy (with RV)."""
        res, obj = self._normalize(obj, _fresh)
        with self.lock:
            key = _key(res, obj)
            prev = self._objects[res.name].get(key)
            md = obj["metadata"]
            if prev is not None:
                md["uid"] = prev["metadata"].get("uid")
                md["creationTimestamp"] = prev["metadata"].get("creationTimestamp")
            else:
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp", now_rfc3339())
            self._objects[res.name][key] = obj
            self._record(res, "MODIFIED" if prev is not None else "ADDED", obj, prev)
            return None if _fresh else copy.deepcopy(obj)

    def delete(self, kind_or_resource, name, namespace=None):
        """Delete one object (404-like KeyError if absent); returns the RV."""
        res = RESOURCES.get(kind_or_resource) or KIND_TO_RESOURCE.get(kind_or_resource)
        if res is None:
            raise ValueError(f"unknown resource {kind_or_resource!r}")
        with self.lock:
            key = f"{namespace or 'default'}/{name}" if res.namespaced else name
            prev = self._objects[res.name].pop(key, None)
            if prev is None:
                raise KeyError(f"{res.name} {key} not found")
            obj = copy.deepcopy(prev)
            self._record(res, "DELETED", obj, prev)
            return str(self._rv)

    def get_object(self, kind_or_resource, name, namespace=None):
        res = RESOURCES.get(kind_or_resource) or KIND_TO_RESOURCE.get(kind_or_resource)
        if res is None:
            raise ValueError(f"unknown resource {kind_or_resource!r}")
        try:
            return with_kind(res, self._get(res, namespace or "default", name))
        except APIError as e:
            raise KeyError(e.message)

    def objects(self, resource):
        with self.lock:
            res = RESOURCES[resource]
            return [with_kind(res, o) for o in self._objects_sorted(res)]

    def load(self, source):
        """Load objects from a manifest path, a text, or a list of dicts.
        Unsupported kinds are skipped; returns {"loaded": n, "skipped": [...]}."""
        if isinstance(source, (list, tuple)):
            objs = flatten_docs(source)
        else:
            with open(source, encoding="utf-8") as f:
                objs = parse_manifest_text(f.read())
            return self._load_objects(objs, True)
        return self._load_objects(objs)

    def load_text(self, text):
        return self._load_objects(parse_manifest_text(text), True)

    def _load_objects(self, objs, fresh=False):
        loaded, skipped = 0, []
        with self.lock:
            for o in objs:
                if isinstance(o, dict) and o.get("kind") not in KIND_TO_RESOURCE:
                    md = o.get("metadata") or {}
                    skipped.append(f"{o.get('kind')}/{md.get('name')}")
                    continue
                self.apply(o, fresh)
                loaded += 1
        return {"loaded": loaded, "skipped": skipped, "resourceVersion": str(self._rv)}

    def compact(self, rv=None):
        """Forget history up to rv (default: everything): watches and continue
        tokens from an older RV get 410, as after an etcd compaction."""
        with self.lock:
            rv = self._rv if rv is None else min(int(rv), self._rv)
            n = bisect.bisect_right(self._event_rvs, rv)
            if n:
                self._trim(n)
            self._oldest_rv = max(self._oldest_rv, rv)
            self.cond.notify_all()
            return str(self._oldest_rv)

    def configure(self, **kw):
        allowed = ("bookmark_interval", "history_size", "watch_timeout", "paginate_rv0",
                   "aggregated_discovery", "gzip_threshold", "version", "too_large_wait",
                   "verbose")
        for k, v in kw.items():
            if k not in allowed:
                raise ValueError(f"unknown setting {k!r}")
            setattr(self, k, v)
        return {k: getattr(self, k) for k in allowed}

    # -- faults

    def fault(self, kind, resource=None, verb=None, count=None, **params):
        """Inject a fault; returns its id.  kind: down [mode=refuse|reset],
        hang, status [code=500, retry_after=N, message], empty_lists,
        force_410, slow [ms].  resource/verb scope it; count limits it to
        the next N matching requests.  An unscoped `down` with
        mode=refuse closes the listener (connection refused) and every open
        connection; scoped or mode=reset answers matching requests with
        a TCP reset."""
        f = self._make_fault(kind, resource, verb, count, **params)
        self._register(f)
        self._enact(f)
        return f.id

    def _make_fault(self, kind, resource=None, verb=None, count=None, **params):
        if kind == "throttle":
            kind, params = "status", dict(params, code=429)
        if count is not None:
            count = int(count)
        with self.lock:
            f = Fault(kind, resource, verb, count, **params)
        if kind == "status":
            f.params["code"] = int(params.get("code", 500))
        if kind == "slow":
            f.params["ms"] = float(params.get("ms", 1000))
        if kind == "down" and params.get("mode", "refuse") not in ("refuse", "reset"):
            raise ValueError(f"bad down mode {params.get('mode')!r}")
        return f

    @staticmethod
    def _global_down(f):
        return f.kind == "down" and f.resource is None and f.verb is None

    def _register(self, f):
        with self.lock:
            self._faults.append(f)
            if self._global_down(f):
                self._down_gen += 1  # open watches end
            self.cond.notify_all()

    def _enact(self, f):
        if not self._global_down(f):
            return
        if f.params.get("mode", "refuse") == "refuse":
            self._go_down()
        elif self._server is not None:
            self._server.kill_connections()

    def _go_down(self):
        srv = self._server
        if srv is None:
            return
        self._server = None
        srv.shutdown()
        srv.server_close()
        srv.kill_connections()

    def _come_up(self):
        if self._server is None and not self._stopping and self.port:
            last = None
            for _ in range(100):
                try:
                    self._server = self._serve_on(self.port, False)
                    return
                except OSError as e:  # TIME_WAIT etc.; SO_REUSEADDR is set
                    last = e
                    time.sleep(0.05)
            raise RuntimeError(f"cannot listen again on port {self.port}: {last}")

    def clear_fault(self, fid):
        with self.lock:
            self._faults = [f for f in self._faults if f.id != fid]
            self._heal_gen += 1
            still_down = any(self._global_down(f) and f.params.get("mode", "refuse") == "refuse"
                             for f in self._faults)
            self.cond.notify_all()
        if not still_down:
            self._come_up()

    def heal(self):
        """Remove every fault and come back up."""
        with self.lock:
            self._faults = []
            self._heal_gen += 1
            self.cond.notify_all()
        self._come_up()

    def drop_watches(self, mode="eof"):
        """Close every open watch stream now.  mode: eof (FIN without the
        terminating chunk: a broken stream), reset (TCP RST), clean (the
        terminating chunk, like a server-side timeout)."""
        if mode not in ("eof", "reset", "clean"):
            raise ValueError(f"bad drop mode {mode!r}")
        with self.lock:
            n = self._watches_open
            self._drop_mode = mode
            self._drop_gen += 1
            self.cond.notify_all()
        return n

    def _take_faults(self, resource, verb):
        """Faults applying to a request; consumes counted faults."""
        out = []
        with self.lock:
            for f in list(self._faults):
                if self._global_down(f) and f.params.get("mode", "refuse") == "refuse":
                    continue
                if verb == "discovery" and f.verb is None and f.resource is not None:
                    continue
                if not f.matches(resource, verb):
                    continue
                if f.kind in ("empty_lists",) and verb != "list":
                    continue
                if f.kind == "force_410" and verb not in ("list", "watch"):
                    continue
                out.append(f)
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
        order = {"slow": 0, "down": 1, "hang": 2, "status": 3}
        out.sort(key=lambda f: order.get(f.kind, 4))
        return out

    def _has_fault(self, kind, resource, verb):
        with self.lock:
            return any(f.kind == kind and f.matches(resource, verb) for f in self._faults)

    # -- stats

    def reset_stats(self):
        with self.lock:
            self._counts = collections.Counter()
            self._uas = collections.Counter()
            self._log = collections.deque(maxlen=20000)

    def _log_request(self, h):
        """Count and log a request: at its end, or when a watch stream
        starts / a request starts hanging (then updated at its end)."""
        method, url, q, t0 = h.req
        fault = ",".join(h.applied) or None
        elapsed = time.monotonic() - t0
        if h.log_entry is not None:
            with self.lock:
                h.log_entry["seconds"] = round(elapsed, 3)
                if "events" in h.log_entry:
                    h.log_entry.update(events=getattr(h, "stat_events", 0),
                                       bookmarks=getattr(h, "stat_bookmarks", 0),
                                       end=getattr(h, "watch_end", None))
            return
        info = h.info
        entry = {"t": round(time.time(), 3), "method": method, "path": url.path,
                 "query": url.query, "verb": info["verb"], "resource": info["resource"],
                 "namespace": info["namespace"], "code": h.code, "ua": h.headers.get("User-Agent", ""),
                 "accept": h.headers.get("Accept", ""),
                 "resourceVersion": q.get("resourceVersion"), "limit": q.get("limit"),
                 "continue": bool(q.get("continue")), "fault": fault,
                 "seconds": round(elapsed, 3)}
        if info["verb"] == "watch":
            entry["events"] = getattr(h, "stat_events", 0)
            entry["bookmarks"] = getattr(h, "stat_bookmarks", 0)
            entry["end"] = getattr(h, "watch_end", None)
        with self.lock:
            self._counts[(info["resource"], info["verb"], h.code)] += 1
            self._uas[entry["ua"]] += 1
            self._log.append(entry)
            h.log_entry = entry

    def stats(self):
        """{"requests": [{resource, verb, code, count}], "user_agents": {ua: n},
        "log": [...], "watches_open", "watches_total", "resourceVersion"}."""
        with self.lock:
            return {"requests": [{"resource": r, "verb": v, "code": c, "count": n}
                                 for (r, v, c), n in sorted(self._counts.items(), key=str)],
                    "user_agents": dict(self._uas), "log": list(self._log),
                    "watches_open": self._watches_open, "watches_total": self._watches_total,
                    "resourceVersion": str(self._rv)}

    def count(self, resource=None, verb=None, code=None):
        with self.lock:
            return sum(n for (r, v, c), n in self._counts.items()
                       if (resource is None or r == resource) and (verb is None or v == verb)
                       and (code is None or c == code))

    def state(self):
        with self.lock:
            return {"resourceVersion": str(self._rv), "oldestResourceVersion": str(self._oldest_rv),
                    "up": self._server is not None, "port": self.port,
                    "faults": [f.to_dict() for f in self._faults],
                    "watches_open": self._watches_open,
                    "objects": {r: len(v) for r, v in self._objects.items()}}

# ------------------------------------------------------------------ clients


def write_kubeconfig(path, server):
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
            f"    server: {server}\ncontexts:\n- name: fake\n  context:\n"
            "    cluster: fake\n    user: fake\ncurrent-context: fake\n"
            "users:\n- name: fake\n  user: {}\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def count_requests(stats, resource=None, verb=None, code=None):
    """Sum the counters of a stats() result."""
    return sum(e["count"] for e in stats["requests"]
               if (resource is None or e["resource"] == resource)
               and (verb is None or e["verb"] == verb) and (code is None or e["code"] == code))


class FakeAPIClient(FaultShortcuts):
    """Drives a fake API server in another process through /_control/."""

    def __init__(self, control_url, timeout=10.0):
        self.base = control_url.rstrip("/")
        self.timeout = timeout

    def call(self, op, **args):
        data = dumps(args).encode()
        req = urllib.request.Request(f"{self.base}/_control/{op}", data=data, method="POST",
                                     headers={"Content-Type": JSON_CT})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"control {op}: {e.code} {e.read().decode(errors='replace')}")

    def stats(self):
        return self.call("stats")

    def state(self):
        return self.call("state")

    def count(self, resource=None, verb=None, code=None):
        return count_requests(self.stats(), resource, verb, code)

    def reset_stats(self):
        return self.call("reset_stats")

    def load(self, path=None, objects=None, text=None):
        if path is not None:
            return self.call("load", path=os.path.abspath(path))
        if objects is not None:
            return self.call("load", objects=objects)
        return self.call("load", text=text or "")

    def apply(self, obj):
        return self.call("apply", object=obj)

    def delete(self, resource, name, namespace=None):
        return self.call("delete", resource=resource, name=name, namespace=namespace)

    def compact(self, rv=None):
        return self.call("compact", rv=rv)

    def configure(self, **kw):
        return self.call("config", **kw)

    def fault(self, kind, **params):
        return self.call("fault", kind=kind, **params).get("id")

    def clear_fault(self, fid):
        return self.call("clear_fault", id=fid)

    def drop_watches(self, mode="eof"):
        return self.call("drop_watches", mode=mode)

    def heal(self):
        return self.call("heal")


class Spawned:
    """A fakeapi.py subprocess (see spawn())."""

    def __init__(self, proc, port, control_port):
        self.proc = proc
        self.port = port
        self.control_port = control_port
        self.url = f"http://{HOST}:{port}"
        self.control = FakeAPIClient(f"http://{HOST}:{control_port}")

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def spawn(manifests=(), port=0, extra_args=(), timeout=10.0, stderr=None):
    """Start fakeapi.py as a subprocess; returns a Spawned (port, control)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--port", str(port)]
    for m in manifests:
        cmd += ["--manifest", str(m)]
    cmd += list(extra_args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < 2:
        left = deadline - time.monotonic()
        r = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
        data = os.read(fd, 4096) if r else b""
        if not data:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"fakeapi did not start: {' '.join(cmd)}")
        buf += data
    ports = {}
    for line in buf.decode().splitlines()[:2]:
        k, _, v = line.strip().partition("=")
        ports[k] = int(v)
    return Spawned(proc, ports["PORT"], ports["CONTROL_PORT"])

# ------------------------------------------------------------------ main


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake Kubernetes API server on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--manifest", action="append", default=[],
                    help="YAML/JSON manifest to load (repeatable)")
    ap.add_argument("--bookmark-interval", type=float, default=1.0,
                    help="seconds between BOOKMARK events (real apiserver: 60)")
    ap.add_argument("--history", type=int, default=10000,
                    help="events kept for watch resume / continue tokens")
    ap.add_argument("--watch-timeout", type=float, default=1800.0,
                    help="watch length when the client sends no timeoutSeconds")
    ap.add_argument("--paginate-rv0", action="store_true",
                    help="honour limit on resourceVersion=0 lists (default: ignore, like the watch cache)")
    ap.add_argument("--legacy-discovery", action="store_true",
                    help="no aggregated discovery (pre-1.26 server)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    api = FakeAPI(port=a.port, control_port=a.control_port,
                  bookmark_interval=a.bookmark_interval, history_size=a.history,
                  watch_timeout=a.watch_timeout, paginate_rv0=a.paginate_rv0,
                  aggregated_discovery=not a.legacy_discovery, verbose=a.verbose)
    for m in a.manifest:
        r = api.load(m)
        if r["skipped"]:
            print(f"fakeapi: {m}: skipped unsupported {', '.join(r['skipped'])}", file=sys.stderr)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    api.start()
    print(f"PORT={api.port}", flush=True)
    print(f"CONTROL_PORT={api.control_port}", flush=True)
    while not done.wait(1.0):
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
