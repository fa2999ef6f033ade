"""The official Python `kubernetes` client against a shoal server.

Run by tests/python_client.rs, which starts the servers and sets:
  KUBECONFIG                   a cluster with simulated nodes (default compaction);
  SHOAL_COMPACTED_KUBECONFIG   a cluster started with `--compact-interval 1`.

Every kind is driven through the typed client the way applications use it: create, read,
list (label selectors, pagination), replace (a stale replace is a 409), patch (strategic,
merge and JSON), watch (resume from a resourceVersion; 410 and re-list after compaction)
and delete.
"""

import os
import time
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

IMAGE = "hello:v1"


# ---------------------------------------------------------------------------- clients


def _api_client(path):
    return config.new_client_from_config(config_file=path)


@pytest.fixture(scope="session")
def api():
    return _api_client(os.environ["KUBECONFIG"])


@pytest.fixture(scope="session")
def compacted_api():
    path = os.environ.get("SHOAL_COMPACTED_KUBECONFIG")
    if not path:
        pytest.fail("SHOAL_COMPACTED_KUBECONFIG is not set (tests/python_client.rs sets it)")
    return _api_client(path)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ns(api):
    """A fresh namespace per test; deleted afterwards (errors ignored)."""
    core = client.CoreV1Api(api)
    name = unique("py")
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException:
        pass


def wait_until(what, check, timeout=60.0, interval=0.1):
    """Polls `check` (returns (done, observed)) until done or the deadline; fails with
    the last observed state."""
    deadline = time.monotonic() + timeout
    observed = None
    while time.monotonic() < deadline:
        done, observed = check()
        if done:
            return observed
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last observed: {observed!r}")


# ---------------------------------------------------------------------------- kinds


def _pod_template(app):
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": IMAGE}]},
    }


class Kind:
    """One kind's typed client methods, found by the client's naming convention."""

    def __init__(self, name, api_cls, suffix, namespaced, body):
        self.name = name
        self.api_cls = api_cls
        self.suffix = suffix
        self.namespaced = namespaced
        self._body = body

    def body(self, name, labels):
        b = self._body(name)
        b["metadata"] = {"name": name, "labels": dict(labels)}
        return b

    def _m(self, api, verb):
        scope = "namespaced_" if self.namespaced else ""
        return getattr(self.api_cls(api), f"{verb}_{scope}{self.suffix}")

    def create(self, api, ns, body):
        f = self._m(api, "create")
        return f(ns, body) if self.namespaced else f(body)

    def read(self, api, ns, name):
        f = self._m(api, "read")
        return f(name, ns) if self.namespaced else f(name)

    def list_fn(self, api):
        return self._m(api, "list")

    def list(self, api, ns, **kw):
        f = self.list_fn(api)
        return f(ns, **kw) if self.namespaced else f(**kw)

    def replace(self, api, ns, name, body):
        f = self._m(api, "replace")
        return f(name, ns, body) if self.namespaced else f(name, body)

    def patch(self, api, ns, name, body, **kw):
        f = self._m(api, "patch")
        return f(name, ns, body, **kw) if self.namespaced else f(name, body, **kw)

    def delete(self, api, ns, name):
        f = self._m(api, "delete")
        return f(name, ns) if self.namespaced else f(name)

    def watch_args(self, ns):
        return (ns,) if self.namespaced else ()


def _deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": _pod_template(name)}}


def _replica_set(name):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": _pod_template(name)}}


def _stateful_set(name):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": _pod_template(name)}}


def _daemon_set(name):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": _pod_template(name)}}


def _service(name):
    return {"apiVersion": "v1", "kind": "Service",
            "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]}}


def _pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": IMAGE}]}}


def _job_spec(name):
    t = _pod_template(name)
    t["spec"]["restartPolicy"] = "Never"
    return {"template": t, "backoffLimit": 2}


def _job(name):
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": _job_spec(name)}


def _cron_job(name):
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": _job_spec(name)}}}


def _namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace"}


KINDS = [
    Kind("Deployment", client.AppsV1Api, "deployment", True, _deployment),
    Kind("ReplicaSet", client.AppsV1Api, "replica_set", True, _replica_set),
    Kind("StatefulSet", client.AppsV1Api, "stateful_set", True, _stateful_set),
    Kind("DaemonSet", client.AppsV1Api, "daemon_set", True, _daemon_set),
    Kind("Service", client.CoreV1Api, "service", True, _service),
    Kind("Pod", client.CoreV1Api, "pod", True, _pod),
    Kind("Job", client.BatchV1Api, "job", True, _job),
    Kind("CronJob", client.BatchV1Api, "cron_job", True, _cron_job),
    Kind("Namespace", client.CoreV1Api, "namespace", False, _namespace),
]


def names(items):
    return sorted(i.metadata.name for i in items)


def wait_gone(kind, api, ns, name, timeout=60.0):
    def check():
        try:
            o = kind.read(api, ns, name)
            return False, f"still there (deletionTimestamp={o.metadata.deletion_timestamp}, finalizers={o.metadata.finalizers})"
        except ApiException as e:
            if e.status == 404:
                return True, None
            return False, f"read answered {e.status}"
    wait_until(f"{kind.name} {name} to be gone", check, timeout)


# ---------------------------------------------------------------------------- CRUD


def test_discovery_and_version_apis(api):
    # VersionApi asks for /version/ (with the trailing slash), as Kubernetes serves it.
    code = client.VersionApi(api).get_code()
    assert (code.major, code.minor) == ("1", "32"), code
    assert code.git_version.startswith("v1.32."), code.git_version
    assert "v1" in client.CoreApi(api).get_api_versions().versions
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch"} <= groups, groups


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_create_read_list_replace_patch_delete(api, ns, kind):
    prefix = unique(kind.suffix.replace("_", ""))
    run = prefix  # the label value that marks this test's objects
    objs = [f"{prefix}-{i}" for i in range(3)]
    groups = ["a", "a", "b"]

    # create
    for name, group in zip(objs, groups):
        created = kind.create(api, ns, kind.body(name, {"run": run, "group": group}))
        assert created.metadata.name == name
        assert created.metadata.uid, "the server sets a uid"
        assert created.metadata.resource_version, "the server sets a resourceVersion"
        assert created.metadata.creation_timestamp is not None
        if kind.namespaced:
            assert created.metadata.namespace == ns

    # read
    got = kind.read(api, ns, objs[0])
    assert got.metadata.name == objs[0]
    assert got.metadata.labels == {"run": run, "group": "a"}

    # list with label selectors (equality and set-based)
    assert names(kind.list(api, ns, label_selector=f"run={run}").items) == objs
    assert names(kind.list(api, ns, label_selector=f"run={run},group=a").items) == objs[:2]
    assert names(kind.list(api, ns, label_selector=f"run={run},group in (b,c)").items) == objs[2:]
    assert names(kind.list(api, ns, label_selector=f"run={run},group notin (a)").items) == objs[2:]
    assert names(kind.list(api, ns, label_selector=f"run={run},!group").items) == []

    # pagination: limit=1, following _continue to the end
    seen, pages, token = [], 0, None
    while True:
        kw = {"label_selector": f"run={run}", "limit": 1}
        if token:
            kw["_continue"] = token
        page = kind.list(api, ns, **kw)
        pages += 1
        assert len(page.items) <= 1, f"page {pages} has {len(page.items)} items with limit=1"
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if pages == 1:
            assert token, "the first page of three objects with limit=1 has a continue token"
        if not token:
            break
        assert pages < 10, "pagination does not end"
    assert sorted(seen) == objs, f"pages returned {seen}"
    assert len(seen) == len(set(seen)), f"an object was returned on two pages: {seen}"

    # replace: a fresh read replaces (retrying if a controller wrote in between); a stale
    # object is a 409 Conflict
    stale = kind.read(api, ns, objs[1])
    for attempt in range(10):
        fresh = kind.read(api, ns, objs[1])
        fresh.metadata.labels["replaced"] = "yes"
        try:
            replaced = kind.replace(api, ns, objs[1], fresh)
            break
        except ApiException as e:
            assert e.status == 409, f"replace answered {e.status}: {e.body}"
    else:
        pytest.fail("replace kept conflicting")
    assert replaced.metadata.labels["replaced"] == "yes"
    assert int(replaced.metadata.resource_version) > int(stale.metadata.resource_version)
    stale.metadata.labels["stale"] = "yes"
    with pytest.raises(ApiException) as conflict:
        kind.replace(api, ns, objs[1], stale)
    assert conflict.value.status == 409, conflict.value.body
    assert "stale" not in kind.read(api, ns, objs[1]).metadata.labels

    # patch: strategic merge (a dict), JSON merge, JSON patch (a list)
    p = kind.patch(api, ns, objs[2], {"metadata": {"labels": {"strategic": "yes"}}})
    assert p.metadata.labels["strategic"] == "yes" and p.metadata.labels["group"] == "b"
    p = kind.patch(api, ns, objs[2], {"metadata": {"labels": {"strategic": None, "merge": "yes"}}},
                   _content_type="application/merge-patch+json")
    assert "strategic" not in p.metadata.labels and p.metadata.labels["merge"] == "yes"
    p = kind.patch(api, ns, objs[2], [{"op": "add", "path": "/metadata/annotations", "value": {"json": "patch"}},
                                      {"op": "remove", "path": "/metadata/labels/merge"}])
    assert p.metadata.annotations == {"json": "patch"}
    assert "merge" not in p.metadata.labels
    # a failing JSON patch test op is rejected and changes nothing
    with pytest.raises(ApiException) as failed:
        kind.patch(api, ns, objs[2], [{"op": "test", "path": "/metadata/labels/group", "value": "zzz"},
                                      {"op": "add", "path": "/metadata/labels/x", "value": "y"}])
    assert failed.value.status in (409, 422), failed.value.body
    assert "x" not in kind.read(api, ns, objs[2]).metadata.labels

    # delete
    for name in objs:
        kind.delete(api, ns, name)
    for name in objs:
        wait_gone(kind, api, ns, name)
    assert kind.list(api, ns, label_selector=f"run={run}").items == []
    with pytest.raises(ApiException) as missing:
        kind.delete(api, ns, objs[0])
    assert missing.value.status == 404


# ---------------------------------------------------------------------------- scale


def test_scale_subresource_of_deployments_replicasets_and_statefulsets(api, ns):
    apps = client.AppsV1Api(api)
    d = unique("web")
    apps.create_namespaced_deployment(ns, {**_deployment(d), "metadata": {"name": d}})
    scale = apps.patch_namespaced_deployment_scale(d, ns, {"spec": {"replicas": 3}})
    assert scale.kind == "Scale" and scale.spec.replicas == 3
    assert apps.read_namespaced_deployment(d, ns).spec.replicas == 3
    assert apps.read_namespaced_deployment_scale(d, ns).spec.replicas == 3

    def ready():
        s = apps.read_namespaced_deployment(d, ns).status
        return s is not None and (s.ready_replicas or 0) == 3 and (s.updated_replicas or 0) == 3, s
    wait_until("the Deployment to have 3 ready replicas", ready)
    sel = apps.read_namespaced_deployment_scale(d, ns).status.selector
    assert sel and f"app={d}" in sel, sel
    assert len(client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=sel).items) == 3

    # replace through /scale with a stale resourceVersion is a 409 too
    s = apps.read_namespaced_deployment_scale(d, ns)
    s.spec.replicas = 1
    apps.replace_namespaced_deployment_scale(d, ns, s)
    s.spec.replicas = 2
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale(d, ns, s)
    assert conflict.value.status == 409
    assert apps.read_namespaced_deployment(d, ns).spec.replicas == 1

    rs = unique("rs")
    apps.create_namespaced_replica_set(ns, {**_replica_set(rs), "metadata": {"name": rs}})
    assert apps.patch_namespaced_replica_set_scale(rs, ns, {"spec": {"replicas": 2}}).spec.replicas == 2
    wait_until("the ReplicaSet to have 2 ready replicas",
               lambda: ((getattr(apps.read_namespaced_replica_set(rs, ns).status, "ready_replicas", None) or 0) == 2, None))

    ss = unique("db")
    apps.create_namespaced_stateful_set(ns, {**_stateful_set(ss), "metadata": {"name": ss}})
    assert apps.patch_namespaced_stateful_set_scale(ss, ns, {"spec": {"replicas": 2}}).spec.replicas == 2
    assert apps.read_namespaced_stateful_set(ss, ns).spec.replicas == 2


# ---------------------------------------------------------------------------- watch


def collect(api, kind, ns, rv, label_selector, stop_after=None, timeout_seconds=2):
    """Events of one watch from `rv` as (type, name, resourceVersion): all of them until
    the server ends the watch after `timeout_seconds`, or the first `stop_after`."""
    w = watch.Watch()
    out = []
    for e in w.stream(kind.list_fn(api), *kind.watch_args(ns), resource_version=rv,
                      label_selector=label_selector, timeout_seconds=timeout_seconds,
                      _request_timeout=timeout_seconds + 10):
        m = e["raw_object"]["metadata"]
        out.append((e["type"], m["name"], int(m["resourceVersion"])))
        if stop_after is not None and len(out) >= stop_after:
            w.stop()
            break
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_watch_resumed_from_a_resource_version_sees_every_later_event_once(api, ns, kind):
    run = unique("w")
    sel = f"run={run}"
    start = kind.list(api, ns, label_selector=sel).metadata.resource_version
    objs = [f"{run}-{i}" for i in range(3)]
    for name in objs:
        kind.create(api, ns, kind.body(name, {"run": run}))
    for name in objs:
        kind.patch(api, ns, name, {"metadata": {"annotations": {"touched": "yes"}}})
    for name in objs:
        kind.delete(api, ns, name)
    for name in objs:
        wait_gone(kind, api, ns, name)

    # The whole history from `start`, in one watch: the reference.
    everything = collect(api, kind, ns, start, sel)
    got = [(t, n) for t, n, _ in everything]
    for name in objs:
        assert got.count(("ADDED", name)) == 1, f"ADDED {name} not seen exactly once: {got}"
        assert got.count(("DELETED", name)) == 1, f"DELETED {name} not seen exactly once: {got}"
        assert ("MODIFIED", name) in got, f"no MODIFIED {name}: {got}"
    revs = [r for _, _, r in everything]
    assert revs == sorted(set(revs)), f"revisions not strictly increasing: {revs}"

    # The same history read by a watch that hangs up half-way and one resumed from the
    # last resourceVersion it saw: every event once, nothing missed, nothing twice.
    half = len(everything) // 2
    first = collect(api, kind, ns, start, sel, stop_after=half)
    assert len(first) == half
    second = collect(api, kind, ns, str(first[-1][2]), sel)
    assert first + second == everything


def test_watch_from_a_compacted_resource_version_gets_410_and_the_client_relists(compacted_api):
    core = client.CoreV1Api(compacted_api)
    ns = "default"
    run = unique("c")
    sel = f"run={run}"
    svc = Kind("Service", client.CoreV1Api, "service", True, _service)

    def create(name):
        core.create_namespaced_service(ns, svc.body(name, {"run": run}))

    create(f"{run}-first")
    old = core.list_namespaced_service(ns, label_selector=sel).metadata.resource_version

    # The server compacts every second to the revision of the tick before: keep writing
    # until a watch from `old` is refused.
    i = 0
    deadline = time.monotonic() + 30
    while True:
        i += 1
        create(f"{run}-{i}")
        try:
            events = collect(compacted_api, svc, ns, old, sel, stop_after=1, timeout_seconds=1)
        except ApiException as e:
            assert e.status == 410, f"expected 410 Gone, got {e.status}: {e.reason}"
            assert "Expired" in (e.reason or ""), e.reason
            break
        assert time.monotonic() < deadline, f"a watch from compacted revision {old} still answers: {events}"
        time.sleep(0.5)

    # The informer's recovery: list again, then watch from the list's resourceVersion.
    relisted = core.list_namespaced_service(ns, label_selector=sel)
    assert names(relisted.items) == sorted([f"{run}-first"] + [f"{run}-{j}" for j in range(1, i + 1)])
    fresh = relisted.metadata.resource_version
    create(f"{run}-after")
    events = collect(compacted_api, svc, ns, fresh, sel, stop_after=1, timeout_seconds=5)
    assert [(t, n) for t, n, _ in events] == [("ADDED", f"{run}-after")]
