#!/usr/bin/env python3
"""Checks helm/cio-relay offline: lints it strictly, renders it for the default values and for
combinations of the switches, validates every manifest against the Kubernetes schemas (the KEDA and
Prometheus Operator resources against helm/crd-schemas), asserts what each combination must
produce, and makes sure bad values fail with a message that names them. With monitoring on, it
also compares the rendered alert rules with the committed helm/alerts/cio-relay-rules.yaml, and
runs promtool on them: `check rules`, the alert unit tests of helm/alerts/cio-relay-rules.test.yaml
(`test rules`), and every Grafana dashboard expression parsed as a recording rule.

Usage: helm/tests/check-chart.py [--kube-version 1.30.0] [--write-rules]
  --write-rules  rewrite helm/alerts/cio-relay-rules.yaml from the chart (after changing the rules)
"""
import argparse
import copy
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "helm" / "cio-relay"
CRD_SCHEMAS = ROOT / "helm" / "crd-schemas"
ALERTS = ROOT / "helm" / "alerts"
RULES_FILE = ALERTS / "cio-relay-rules.yaml"
RULES_TESTS = ALERTS / "cio-relay-rules.test.yaml"
RULES_HEADER = """# The alert rules the chart renders (helm/cio-relay/templates/prometheusrule.yaml) with
# metrics.prometheusRule.enabled=true and default thresholds, for release "relay" in namespace
# "mail", as a plain Prometheus rules file: promtool test rules cio-relay-rules.test.yaml runs the
# alert tests against it. Generated: helm/tests/check-chart.py --write-rules. The chart check fails
# when this file differs from a fresh rendering.
"""
RELEASE, NAMESPACE = "relay", "mail"
FULLNAME = f"{RELEASE}-cio-relay"

REQUIRED = {
    "redis": {"url": "redis://relay:s3cret@redis.mail.svc:6379/1"},
    "warehouse": {"url": "postgres://relay:pw@postgres.mail.svc:5432/events?sslmode=require"},
    "secrets": {"webhookSecret": "whsec", "siteId": "site", "trackApiKey": "key"},
}
MONITORING = {
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "grafana": {"dashboard": {"enabled": True}},
    "networkPolicy": {
        "enabled": True,
        "webhookFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        "egressTo": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 6379, "protocol": "TCP"}]}],
    },
}
BIGQUERY_KEY = {"warehouse": {"url": "", "bigquery": {
    "project": "my-project", "dataset": "cio_events", "location": "EU", "tablePrefix": "", "keySecret": {"name": "bigquery-key", "key": "sa.json"}}}}
BIGQUERY_WORKLOAD_IDENTITY = {
    "warehouse": {"url": "", "bigquery": {"project": "my-project", "dataset": "cio_events", "location": "", "tablePrefix": "",
                                          "keySecret": {"name": "", "key": "key.json"}}},
    "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "cio-relay@my-project.iam.gserviceaccount.com"}},
}
INGRESS_TLS = {"ingress": {
    "enabled": True, "className": "nginx",
    "hosts": [{"host": "hooks.example.com", "paths": [{"path": "/webhooks/customerio", "pathType": "Prefix"}]}],
    "tls": [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}],
}}
KEDA_ON = {"worker": {"autoscaling": {"keda": {"enabled": True, "lagCount": 500}}}}
CONSOLE = {
    "secrets": {"adminToken": "console-token-0123456789"},
    "console": {"ingress": {"enabled": True, "className": "nginx", "hosts": ["console.example.com"],
                            "tls": [{"secretName": "console-tls", "hosts": ["console.example.com"]}]}},
}
CLUSTER = {
    "redis": {"url": "redis+cluster://relay:s3cret@redis-0.redis.mail.svc:6379,redis-1.redis.mail.svc:6379",
              "cluster": {"enabled": True}, "partitions": 16, "minReplicas": 1},
    "worker": {"autoscaling": {"keda": {"enabled": True, "lagCount": 500, "prometheus": {"serverAddress": "http://prometheus.monitoring.svc:9090"}}}},
}
# Each role with its own Redis user and a workspace's keys; TLS to Redis (mutual, a named server)
# and PostgreSQL's CA from Secrets.
PER_ROLE = {
    "secrets": {"extra": {"EU_SIGNING_KEY": "eu-whsec", "EU_TRACK_API_KEY": "eu-key", "REDIS_URL_RECEIVER": "redis://receiver:pw@redis.mail.svc:6379/1"}},
    "secretKeys": {"receiver": ["EU_SIGNING_KEY"], "actions": ["EU_TRACK_API_KEY"], "warehouse": []},
    "redis": {"urlKeys": {"receiver": "REDIS_URL_RECEIVER", "actions": "REDIS_URL", "warehouse": "REDIS_URL"}},
}
TLS = {
    "redis": {"url": "rediss://relay:s3cret@redis.mail.svc:6380/1",
              "tls": {"secretName": "redis-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key", "serverName": "redis.internal"}},
    "warehouse": {"url": "postgres://relay:pw@db.mail.svc:5432/events?sslmode=verify-full&sslrootcert=/var/run/secrets/warehouse-tls/ca.crt",
                  "tls": {"secretName": "postgres-ca"}},
}
# A primary with replicas behind Redis Sentinel (the Bitnami chart's replication mode), KEDA on.
SENTINEL = {
    "secrets": {"sentinelPassword": "s3cret"},
    "redis": {"url": "redis+sentinel://:s3cret@redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379/mymaster",
              "sentinel": {"enabled": True, "masterName": "mymaster",
                           "hosts": ["redis-node-0.redis-headless:26379", "redis-node-1.redis-headless:26379"]}},
}
EXISTING_SECRET = {
    "existingSecret": "cio-relay-credentials",
    "worker": {"autoscaling": {"keda": {"enabled": True, "redis": {"address": "redis.mail.svc:6379", "passwordKey": "REDIS_PASSWORD"}}}},
    "config": {"workspaces": {"eu-brand": {"signing_keys_env": ["EU_BRAND_SIGNING_KEY"],
                                           "track": {"site_id": "eu-site", "api_key_env": "EU_BRAND_TRACK_API_KEY", "region": "eu"}}}},
}


def merged(*layers):
    result = {}
    for layer in layers:
        result = deep_merge(result, copy.deepcopy(layer))
    return result


def deep_merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


def render(values):
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(values)
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    manifests = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                manifests.append((path, document))
    return manifests, rendered.get("cio-relay/templates/NOTES.txt", "")


def crd_schema(document):
    group = document["apiVersion"].replace("/", "-")
    path = CRD_SCHEMAS / f"{document['kind'].lower()}-{group}.json"
    return json.loads(path.read_text()) if path.exists() else None


def validate(manifests, kube_version):
    for path, document in manifests:
        where = f"{path}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
        schema = crd_schema(document)
        try:
            if schema is not None:
                jsonschema.Draft7Validator(schema).validate(document)
            else:
                kubernetes_validate.validate(document, kube_version, strict=True)
        except jsonschema.ValidationError as error:
            location = "/".join(str(part) for part in error.absolute_path)
            raise Failure(f"{where} is invalid at {location or '(root)'}: {error.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as error:
            raise Failure(f"{where}: {error.message} (add a schema to helm/crd-schemas)")


def lint(values, kube_version):
    result = helm.lint(str(CHART), values, strict=True, kube_version=kube_version)
    problems = [f"{m['path']}: {m['error']}" for m in result["messages"] if m["severity"] > 1] + list(result["errors"])
    expect(not problems, "helm lint --strict: " + "; ".join(problems))
    return [f"{m['path']}: {m['error']}" for m in result["messages"] if m["severity"] == 1]


def kinds(manifests):
    return sorted(f"{d['kind']}/{d['metadata']['name']}" for _, d in manifests)


def find(manifests, kind, name=None):
    return [d for _, d in manifests if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(manifests, kind, name):
    found = find(manifests, kind, name)
    expect(len(found) == 1, f"expected one {kind}/{name}, found {len(found)}: {kinds(manifests)}")
    return found[0]


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env(deployment):
    return {e["name"]: e for e in container(deployment)["env"]}


def check_workloads(manifests, values):
    """What every combination shares: hardened pods, probes on the admin port, the Secret wiring."""
    secret = values.get("existingSecret") or FULLNAME
    for deployment in find(manifests, "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        box = container(deployment)
        expect(pod["securityContext"]["runAsNonRoot"] is True, f"{name}: pods must run as non-root")
        context = box["securityContext"]
        expect(context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
               and context["capabilities"]["drop"] == ["ALL"], f"{name}: container security context is not hardened: {context}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            expect(box[probe]["httpGet"] == {"path": path, "port": "admin"}, f"{name}: {probe} must call {path} on the admin port")
        check_secret_keys(deployment, values, secret)
        expect("checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"], f"{name}: no config checksum")
        expect(box["resources"].get("requests", {}).get("cpu"), f"{name}: no CPU request, which CPU autoscaling needs")
    receiver = one(manifests, "Deployment", f"{FULLNAME}-receiver")
    expect(container(receiver)["args"] == ["serve"], "receiver must run `serve`")
    if values.get("redis", {}).get("minReplicas") is None:
        expect("CIO_RELAY_REDIS_MIN_REPLICAS" not in env(receiver), "without redis.minReplicas the binary chooses (1 on a cluster, 0 on one Redis)")
    expect(container(receiver)["lifecycle"]["preStop"]["sleep"]["seconds"] == 5, "receiver needs its preStop sleep")
    enabled = [group for group, settings in sorted(values.get("worker", {}).get("groups", {}).items()) if settings.get("enabled", True)]
    enabled = enabled or ["actions", "warehouse"]
    expect(env(receiver)["CIO_RELAY_GROUPS"]["value"] == ",".join(enabled),
           f"receiver must create the enabled groups {enabled} at start: {env(receiver).get('CIO_RELAY_GROUPS')}")
    for group in ("actions", "warehouse"):
        worker = one(manifests, "Deployment", f"{FULLNAME}-worker-{group}")
        variables = env(worker)
        expect(container(worker)["args"] == ["work"], f"{group} worker must run `work`")
        expect(variables["CIO_RELAY_GROUPS"]["value"] == group, f"{group} worker must run only its group")
        expect(variables["CIO_RELAY_CONSUMER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name",
               f"{group} worker: consumer name must be the pod name")
        expect("replicas" not in worker["spec"], f"{group} worker: the autoscaler owns the replica count")
    warehouse_url = env(one(manifests, "Deployment", f"{FULLNAME}-worker-warehouse"))["WAREHOUSE_URL"]
    if values.get("warehouse", {}).get("bigquery", {}).get("project"):
        check_bigquery(manifests, values)
    else:
        expect(warehouse_url["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "WAREHOUSE_URL"}, "warehouse worker: WAREHOUSE_URL from the Secret")
    expect(env(one(manifests, "Deployment", f"{FULLNAME}-worker-actions"))["WAREHOUSE_URL"]["value"] == "none",
           "actions worker must not open the warehouse")
    admin = one(manifests, "Service", f"{FULLNAME}-admin")
    expect([p["port"] for p in admin["spec"]["ports"]] == [9090], "admin Service serves port 9090 only")
    webhooks = one(manifests, "Service", FULLNAME)
    expect([p["targetPort"] for p in webhooks["spec"]["ports"]] == ["http"], "the webhook Service must not expose the admin port")
    one(manifests, "ConfigMap", FULLNAME)
    one(manifests, "Pod", f"{FULLNAME}-test-readyz")
    expect(one(manifests, "PodDisruptionBudget", f"{FULLNAME}-receiver")["spec"]["minAvailable"] == 1, "receiver PDB")


def role_secret_keys(role, values):
    """The exact keys of the release's Secret a role may read: its own, the console's token for
    the console's group, and what secretKeys and redis.urlKeys give it."""
    own = {
        "receiver": {"CUSTOMERIO_WEBHOOK_SECRET", "CUSTOMERIO_WEBHOOK_SECRET_PREVIOUS"},
        "worker-actions": {"CUSTOMERIO_SITE_ID", "CUSTOMERIO_TRACK_API_KEY"},
        "worker-warehouse": set() if values.get("warehouse", {}).get("bigquery", {}).get("project") else {"WAREHOUSE_URL"},
    }[role]
    short = role.removeprefix("worker-")
    console = "warehouse" if values.get("worker", {}).get("groups", {}).get("warehouse", {}).get("enabled", True) else "actions"
    if short == console:
        own.add("CIO_RELAY_ADMIN_TOKEN")
    if values.get("redis", {}).get("sentinel", {}).get("enabled"):
        own.add("CIO_RELAY_REDIS_SENTINEL_PASSWORD")
    own.add(values.get("redis", {}).get("urlKeys", {}).get(short, "REDIS_URL"))
    # The variables the YAML configuration names: signing keys for receivers, Track keys for actions.
    for workspace in values.get("config", {}).get("workspaces", {}).values():
        if short == "receiver":
            own |= set(workspace.get("signing_keys_env", []))
        if short == "actions" and workspace.get("track", {}).get("api_key_env"):
            own.add(workspace["track"]["api_key_env"])
    return own | set(values.get("secretKeys", {}).get(short, []))


def check_secret_keys(deployment, values, secret):
    """A pod reads its Secret key by key (no envFrom), exactly its role's keys; other Secrets only
    as the role's files (BigQuery key and PostgreSQL CA on warehouse workers, Redis TLS on all)."""
    name = deployment["metadata"]["name"]
    role = name.removeprefix(f"{FULLNAME}-")
    box = container(deployment)
    expect("envFrom" not in box, f"{name}: envFrom would hand it every key of the Secret")
    read = {e["valueFrom"]["secretKeyRef"]["key"] for e in box["env"] if "secretKeyRef" in e.get("valueFrom", {})
            and e["valueFrom"]["secretKeyRef"]["name"] == secret}
    expected = role_secret_keys(role, values)
    expect(read == expected, f"{name}: reads the Secret keys {sorted(read)}, its role needs exactly {sorted(expected)}")
    others = {e["valueFrom"]["secretKeyRef"]["name"] for e in box["env"] if "secretKeyRef" in e.get("valueFrom", {})} - {secret}
    expect(not others, f"{name}: reads keys of other Secrets {others}")
    mounted = {v["secret"]["secretName"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    allowed = set()
    tls = values.get("redis", {}).get("tls", {})
    if tls.get("secretName"):
        allowed.add(tls["secretName"])
    if role == "worker-warehouse":
        allowed |= {values.get("warehouse", {}).get("tls", {}).get("secretName"),
                    values.get("warehouse", {}).get("bigquery", {}).get("keySecret", {}).get("name")} - {None, ""}
    expect(mounted == allowed, f"{name}: mounts the Secrets {sorted(mounted)}, its role needs exactly {sorted(allowed)}")
    console = "CIO_RELAY_ADMIN_TOKEN" in expected
    expect((env(deployment).get("CIO_RELAY_CONSOLE", {}).get("value") == "off") != console,
           f"{name}: the console must be off everywhere but on the console's pods")
    if tls.get("secretName"):
        variables = env(deployment)
        expect(variables["CIO_RELAY_REDIS_TLS_CA_FILE"]["value"] == f"/var/run/secrets/redis-tls/{tls['caKey']}", f"{name}: the Redis CA file")
        if tls.get("certKey"):
            expect(variables["CIO_RELAY_REDIS_TLS_CERT_FILE"]["value"] == f"/var/run/secrets/redis-tls/{tls['certKey']}", f"{name}: client certificate")
        if tls.get("serverName"):
            expect(variables["CIO_RELAY_REDIS_TLS_SERVER_NAME"]["value"] == tls["serverName"], f"{name}: server name")


def check_bigquery(manifests, values):
    """BigQuery: the warehouse workers get the bigquery:// URL and, with a key Secret, the key as a
    read-only file; no other pod gets either."""
    bigquery = values["warehouse"]["bigquery"]
    warehouse = one(manifests, "Deployment", f"{FULLNAME}-worker-warehouse")
    expected = f"bigquery://{bigquery['project']}/{bigquery['dataset']}" + ("?location=" + bigquery["location"] if bigquery.get("location") else "")
    expect(env(warehouse)["WAREHOUSE_URL"] == {"name": "WAREHOUSE_URL", "value": expected}, f"warehouse worker: WAREHOUSE_URL {env(warehouse)['WAREHOUSE_URL']}")
    key = bigquery.get("keySecret", {}).get("name")
    volumes = {v["name"]: v for v in warehouse["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container(warehouse)["volumeMounts"]}
    if key:
        expect(env(warehouse)["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/run/secrets/google/key.json", "the key file's path")
        expect(volumes["google-key"]["secret"] == {"secretName": key, "items": [{"key": bigquery["keySecret"]["key"], "path": "key.json"}]},
               f"the key comes from Secret {key}: {volumes.get('google-key')}")
        expect(mounts["google-key"] == {"name": "google-key", "mountPath": "/var/run/secrets/google", "readOnly": True}, "the key is mounted read-only")
    else:
        expect("google-key" not in volumes and "GOOGLE_APPLICATION_CREDENTIALS" not in env(warehouse), "Workload Identity: no key file")
        annotations = one(manifests, "ServiceAccount", FULLNAME)["metadata"].get("annotations", {})
        expect("iam.gke.io/gcp-service-account" in annotations, "Workload Identity needs the ServiceAccount annotation")
    for deployment in find(manifests, "Deployment"):
        if deployment is warehouse:
            continue
        name = deployment["metadata"]["name"]
        expect("GOOGLE_APPLICATION_CREDENTIALS" not in env(deployment), f"{name} must not get the Google key")
        expect("google-key" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}, f"{name} must not mount the Google key")
        expect(env(deployment).get("WAREHOUSE_URL", {}).get("value", "none") == "none" or name.endswith("receiver"), f"{name} must not open the warehouse")
    secret = find(manifests, "Secret", FULLNAME)
    expect(not secret or "WAREHOUSE_URL" not in secret[0]["stringData"], "BigQuery: no WAREHOUSE_URL in the Secret")


def check_keda(manifests, values, lag_count, address, database, auth_keys):
    expect(not [h for h in find(manifests, "HorizontalPodAutoscaler") if "worker" in h["metadata"]["name"]],
           "KEDA on: no worker HorizontalPodAutoscaler (KEDA makes its own)")
    caps = {"actions": 3, "warehouse": 6}
    for group, cap in caps.items():
        scaled = one(manifests, "ScaledObject", f"{FULLNAME}-worker-{group}")
        trigger = scaled["spec"]["triggers"][0]
        expect(trigger["type"] == "redis-streams", f"{group}: trigger must be redis-streams")
        metadata = trigger["metadata"]
        expect(metadata.get("lagCount") == str(lag_count), f"{group}: lagCount must be set explicitly to {lag_count}, got {metadata}")
        expect("pendingEntriesCount" not in metadata and "streamLength" not in metadata, f"{group}: lag mode only")
        expect(metadata["stream"] == "cio:{0}:events" and metadata["consumerGroup"] == group, f"{group}: stream and group")
        expect(metadata["address"] == address and metadata["databaseIndex"] == database, f"{group}: Redis address {metadata}")
        expect(scaled["spec"]["maxReplicaCount"] == cap, f"{group}: maxReplicaCount must be {cap}")
        expect(scaled["spec"]["scaleTargetRef"]["name"] == f"{FULLNAME}-worker-{group}", f"{group}: scale target")
        if auth_keys:
            expect(trigger["authenticationRef"]["name"] == f"{FULLNAME}-redis", f"{group}: KEDA must authenticate to Redis")
    if auth_keys:
        refs = one(manifests, "TriggerAuthentication", f"{FULLNAME}-redis")["spec"]["secretTargetRef"]
        expect({r["parameter"]: r["key"] for r in refs} == auth_keys, f"TriggerAuthentication keys {refs}")


def check_cluster(manifests, values):
    """Partitions on a Redis Cluster: the settings reach every pod, and KEDA scales each group on
    its lag summed over the partitions, from Prometheus."""
    redis = values["redis"]
    for deployment in find(manifests, "Deployment"):
        variables = env(deployment)
        name = deployment["metadata"]["name"]
        expect(variables["CIO_RELAY_PARTITIONS"]["value"] == str(redis["partitions"]), f"{name}: CIO_RELAY_PARTITIONS")
        expect(variables["CIO_RELAY_REDIS_MIN_REPLICAS"]["value"] == str(redis["minReplicas"]), f"{name}: CIO_RELAY_REDIS_MIN_REPLICAS")
    expect(not find(manifests, "TriggerAuthentication"), "the Prometheus trigger needs no Redis credentials")
    for group in ("actions", "warehouse"):
        trigger = one(manifests, "ScaledObject", f"{FULLNAME}-worker-{group}")["spec"]["triggers"]
        expect(len(trigger) == 1 and trigger[0]["type"] == "prometheus", f"{group}: one prometheus trigger, got {trigger}")
        metadata = trigger[0]["metadata"]
        expect(metadata["query"] == f'max(cio_relay_group_lag{{namespace="{NAMESPACE}", job="{FULLNAME}-admin", group="{group}"}})',
               f"{group}: the query sums nothing twice and selects this release: {metadata['query']}")
        expect(metadata["threshold"] == "500" and metadata["serverAddress"] == "http://prometheus.monitoring.svc:9090", f"{group}: {metadata}")


def check_console(manifests, values):
    """The console Service selects the warehouse workers (they read the warehouse); its Ingress,
    when on, routes only /console there and the token is in the Secret."""
    service = one(manifests, "Service", f"{FULLNAME}-console")
    expect(service["spec"]["selector"].get("app.kubernetes.io/component") == "worker-warehouse", f"console Service selector {service['spec']['selector']}")
    expect(service["spec"]["ports"][0]["targetPort"] == "admin", "the console is on the admin port")
    ingresses = [i for i in find(manifests, "Ingress") if i["metadata"]["name"] == f"{FULLNAME}-console"]
    if not values.get("console", {}).get("ingress", {}).get("enabled"):
        expect(not ingresses, "no console Ingress unless asked: port-forward by default")
        return
    rule = ingresses[0]["spec"]["rules"][0]
    expect(rule["host"] == "console.example.com", "console host")
    paths = rule["http"]["paths"]
    expect([p["path"] for p in paths] == ["/console"] and paths[0]["backend"]["service"] == {"name": f"{FULLNAME}-console", "port": {"name": "admin"}},
           f"the console Ingress routes only /console to the console Service: {paths}")
    if not values.get("existingSecret"):
        expect(one(manifests, "Secret", FULLNAME)["stringData"].get("CIO_RELAY_ADMIN_TOKEN") == "console-token-0123456789", "the admin token is in the Secret")


def check_hpa(manifests):
    expect(not find(manifests, "ScaledObject"), "KEDA off: no ScaledObject")
    for group, cap in (("actions", 3), ("warehouse", 6)):
        hpa = one(manifests, "HorizontalPodAutoscaler", f"{FULLNAME}-worker-{group}")
        expect(hpa["spec"]["maxReplicas"] == cap and hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu",
               f"{group}: CPU HPA capped at {cap}")
    one(manifests, "HorizontalPodAutoscaler", f"{FULLNAME}-receiver")


def exported_metric_names():
    names = set()
    for source in (ROOT / "Sources").rglob("*.swift"):
        names.update(re.findall(r'"((?:cio_relay|process)_[a-z_]+)"', source.read_text()))
    return names


def promtool(*arguments, cwd=ALERTS):
    result = subprocess.run(["promtool", *arguments], capture_output=True, text=True, cwd=cwd)
    expect(result.returncode == 0, f"promtool {' '.join(arguments)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def check_alert_rules(rule, write):
    """The rendered rules equal the committed file, pass promtool check rules, and pass the alert
    tests, which must hold a case that fires and a case that stays quiet for every alert."""
    text = RULES_HEADER + yaml.safe_dump(rule["spec"], sort_keys=False, width=1000, allow_unicode=True)
    if write:
        RULES_FILE.write_text(text)
    expect(RULES_FILE.exists() and RULES_FILE.read_text() == text,
           f"{RULES_FILE.relative_to(ROOT)} differs from the chart's rules: run helm/tests/check-chart.py --write-rules and review the diff")
    promtool("check", "rules", RULES_FILE.name)
    tests = yaml.safe_load(RULES_TESTS.read_text())
    expect(tests.get("rule_files") == [RULES_FILE.name], f"{RULES_TESTS.name} must test {RULES_FILE.name} and nothing else")
    cases = [case for test in tests["tests"] for case in test.get("alert_rule_test", [])]
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}
    for alert in sorted(alerts):
        fires = [c for c in cases if c["alertname"] == alert and c.get("exp_alerts")]
        quiet = [c for c in cases if c["alertname"] == alert and not c.get("exp_alerts")]
        expect(fires and quiet, f"{RULES_TESTS.name}: {alert} needs a case where it fires ({len(fires)}) and one where it stays quiet ({len(quiet)})")
    output = promtool("test", "rules", RULES_TESTS.name)
    expect("SUCCESS" in output, f"promtool test rules did not report success: {output}")
    return len(tests["tests"]), len(cases)


def check_dashboard_expressions(dashboard):
    """Every query of the dashboard, its variables' included, parses as PromQL: promtool checks them
    as recording rules, with Grafana's variables replaced by values of the kind Grafana puts in."""
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else None
        if query:
            inner = re.fullmatch(r"label_values\((.+),\s*[a-zA-Z_]\w*\)", query)
            expect(inner, f"dashboard variable {variable['name']}: not a label_values(selector, label) query: {query}")
            queries.append(inner.group(1))
    values = {"$__rate_interval": "2m", "$__interval": "30s", "$namespace": NAMESPACE, "$job": f"{FULLNAME}-admin"}
    rules = []
    for index, query in enumerate(queries):
        for variable, value in values.items():
            query = query.replace(variable, value)
        expect("$" not in query, f"dashboard query uses a variable the check does not know: {query}")
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "dashboard-queries.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False, width=1000))
        promtool("check", "rules", path.name, cwd=folder)
    return len(queries)


def check_monitoring(manifests, write_rules):
    exported = exported_metric_names()
    monitor = one(manifests, "ServiceMonitor", FULLNAME)
    admin = one(manifests, "Service", f"{FULLNAME}-admin")
    expect(all(admin["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items()),
           "the ServiceMonitor must select the admin Service")
    expect(monitor["spec"]["endpoints"][0]["port"] == "admin", "scrape the admin port")
    rule = one(manifests, "PrometheusRule", FULLNAME)
    rules = rule["spec"]["groups"][0]["rules"]
    alerts = {rule["alert"] for rule in rules}
    wanted = {"CioRelayLagHigh", "CioRelayOldestEventTooOld", "CioRelayPartitionStalled", "CioRelayDeadLettersGrowing", "CioRelaySignatureFailures",
              "CioRelayRedisUnavailable", "CioRelayReplicasBelowMinimum", "CioRelayWebhooksRefused", "CioRelayWorkerMetricsAbsent"}
    expect(alerts == wanted, f"alerts {sorted(alerts)}, expected {sorted(wanted)}")
    guide = (ROOT / "docs" / "operations.md").read_text()
    dashboard_map = one(manifests, "ConfigMap", f"{FULLNAME}-dashboard")
    expect(dashboard_map["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard ConfigMap needs label grafana_dashboard")
    dashboard = json.loads(dashboard_map["data"]["cio-relay.json"])
    expressions = [rule["expr"] for rule in rules] + [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for expression in expressions:
        for used in re.findall(r"\b(?:cio_relay|process)_[a-z_]+", expression):
            base = re.sub(r"_(bucket|sum|count)$", "", used)
            expect(used in exported or base in exported, f"{used} is not a metric cio-relay exports: {expression}")
    for alert in alerts:
        expect(f"### {alert}" in guide, f"docs/operations.md has no section for alert {alert}")
    for alert_rule in rules:
        runbook = alert_rule["annotations"].get("runbook_url", "")
        expect(runbook == f"docs/operations.md#{alert_rule['alert'].lower()}",
               f"{alert_rule['alert']}: runbook_url {runbook!r} is not its section of docs/operations.md")
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for subject in ("outcome", "lag", "oldest", "per partition", "track api", "throttle", "warehouse rows", "dead letters"):
        expect(subject in titles, f"the dashboard has no panel about {subject}")
    policy = one(manifests, "NetworkPolicy", FULLNAME)
    expect(set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}, "NetworkPolicy limits ingress and egress")
    tests, cases = check_alert_rules(rule, write_rules)
    queries = check_dashboard_expressions(dashboard)
    return (f", {len(rules)} alert rules (promtool check rules passes; the committed rules file is current; "
            f"promtool test rules: {tests} tests, {cases} cases pass), {len(dashboard['panels'])} dashboard panels "
            f"({queries} queries parse)")


BAD_VALUES = [
    ({"receiver": {"replicaCount": 0}}, "/receiver/replicaCount"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"redis": {"url": "http://redis:6379"}}, "/redis/url"),
    ({"redis": {"url": "rediss://redis:6379/x"}}, "/redis/url"),
    ({"warehouse": {"url": "mysql://db/events"}}, "/warehouse/url"),
    ({"customerio": {"region": "asia"}}, "/customerio/region"),
    ({"worker": {"autoscaling": {"keda": {"enabled": "yes"}}}}, "/worker/autoscaling/keda/enabled"),
    ({"worker": {"autoscaling": {"keda": {"lagCount": 0}}}}, "/worker/autoscaling/keda/lagCount"),
    ({"worker": {"groups": {"audit": {"enabled": True, "minReplicas": 1, "maxReplicas": 2}}}}, "audit"),
    ({"worker": {"groups": {"actions": {"maxReplicas": 500}}}}, "/worker/groups/actions/maxReplicas"),
    ({"ingress": {"enabledd": True}}, "enabledd"),
    ({"ingress": {"hosts": [{"host": "Hooks_Example", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}, "/ingress/hosts/0/host"),
    ({"ingress": {"tls": [{"secretName": "x"}]}}, "/ingress/tls/0"),
    ({"resources": {"requests": {"cpu": "lots"}}}, "/resources/requests/cpu"),
    ({"secrets": {"extra": {"NOT-A-NAME": "x"}}}, "NOT-A-NAME"),
    ({"env": {"LOG_LEVEL": ["debug"]}}, "/env/LOG_LEVEL"),
    ({"metrics": {"prometheusRule": {"signatureFailureRatio": 2}}}, "/metrics/prometheusRule/signatureFailureRatio"),
    ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "/metrics/serviceMonitor/interval"),
    # Rules across values, checked by templates/validate.yaml and the KEDA helper.
    ({"receiver": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}}, "receiver.autoscaling.minReplicas (5) is above maxReplicas (3)"),
    ({"receiver": {"pdb": {"minAvailable": 2}}}, "receiver.pdb.minAvailable (2) must be below the fewest receivers (2)"),
    ({"worker": {"groups": {"warehouse": {"minReplicas": 8}}}}, "worker.groups.warehouse.minReplicas (8) is above maxReplicas (6)"),
    ({"worker": {"groups": {"actions": {"minReplicas": 0}}}}, "minReplicas 0 needs worker.autoscaling.keda.enabled"),
    ({"ingress": {"enabled": True, "hosts": []}}, "ingress.enabled needs at least one entry in ingress.hosts"),
    ({"existingSecret": "mine", "worker": {"autoscaling": {"keda": {"enabled": True}}}}, "worker.autoscaling.keda.redis.address"),
    ({"warehouse": {"bigquery": {"project": "my-project", "dataset": "events"}}}, "set warehouse.url or warehouse.bigquery, not both"),
    ({"redis": {"partitions": 0}}, "/redis/partitions"),
    ({"console": {"ingress": {"enabled": True, "hosts": ["console.example.com"]}}}, "console.ingress.enabled needs secrets.adminToken"),
    ({"secrets": {"adminToken": "short"}}, "/secrets/adminToken"),
    ({"secrets": {"adminToken": "console-token-0123456789"}, "console": {"ingress": {"enabled": True, "hosts": []}}}, "console.ingress.enabled needs at least one entry in console.ingress.hosts"),
    ({"redis": {"url": "redis+cluster://a:1,b:2/3"}}, "/redis/url"),
    # Sentinel.
    ({"redis": {"url": "redis+sentinel://s1:26379/mymaster"}}, "set redis.sentinel.enabled"),
    ({"redis": {"sentinel": {"enabled": True, "masterName": "mymaster", "hosts": []}}}, "redis.sentinel.enabled needs redis.url to be redis+sentinel://"),
    ({"redis": {"url": "redis+sentinel://s1:26379/mymaster", "sentinel": {"enabled": True, "masterName": "other", "hosts": ["s1:26379"]}}},
     'redis.sentinel.masterName "other" is not the master name in redis.url'),
    ({"redis": {"url": "redis+sentinel://s1:26379/mymaster", "sentinel": {"enabled": True, "masterName": "", "hosts": []}},
      "worker": {"autoscaling": {"keda": {"enabled": True}}}}, "needs redis.sentinel.hosts and redis.sentinel.masterName"),
    ({"redis": {"url": "redis+sentinel://s1:26379"}}, "/redis/url"),
    # Secrets per role and TLS.
    ({"existingSecret": "mine", "console": {"ingress": {"enabled": True, "hosts": ["console.example.com"]}}},
     "set console.ingress.acknowledgeTokenInSecret: true"),
    ({"secrets": {"extra": {"EU_SIGNING_KEY": "x"}}}, "secrets.extra.EU_SIGNING_KEY is read by no role"),
    ({"redis": {"tls": {"secretName": "redis-tls"}}}, "redis.tls.secretName is set but redis.url is plain text"),
    ({"redis": {"url": "rediss://redis:6380", "tls": {"secretName": "redis-tls", "certKey": "tls.crt"}}}, "redis.tls.certKey and redis.tls.keyKey go together"),
    ({"redis": {"url": "rediss://redis:6380", "tls": {"certKey": "tls.crt", "keyKey": "tls.key"}}}, "redis.tls.certKey needs redis.tls.secretName"),
    ({"redis": {"urlKeys": {"receiver": "redis url"}}}, "/redis/urlKeys/receiver"),
    ({"redis": {"url": "redis://a:1,b:2"}}, "/redis/url"),
    ({"redis": {"url": "redis+cluster://a:1,b:2", "partitions": 16}}, "redis.url is redis+cluster://: set redis.cluster.enabled"),
    ({"redis": {"cluster": {"enabled": True}, "partitions": 16}}, "redis.cluster.enabled needs redis.url to be redis+cluster://"),
    ({"redis": {"url": "redis+cluster://a:1,b:2", "cluster": {"enabled": True}}}, "redis.cluster.enabled needs redis.partitions above 1"),
    ({"redis": {"partitions": 4}, "worker": {"autoscaling": {"keda": {"enabled": True}}}}, "set worker.autoscaling.keda.prometheus.serverAddress"),
    ({"redis": {"partitions": 4}, "worker": {"autoscaling": {"keda": {"enabled": True, "prometheus": {"serverAddress": "http://p:9090"}}},
                                             "groups": {"actions": {"minReplicas": 0}}}}, "worker.groups.actions.minReplicas 0 with redis.partitions above 1"),
    ({"warehouse": {"url": "", "bigquery": {"project": "my-project"}}}, "warehouse.bigquery.project needs warehouse.bigquery.dataset"),
    ({"warehouse": {"url": "", "bigquery": {"project": "My Project", "dataset": "events"}}}, "/warehouse/bigquery/project"),
    ({"warehouse": {"url": "", "bigquery": {"project": "my-project", "dataset": "bad-name"}}}, "/warehouse/bigquery/dataset"),
]


def check_bad_values():
    for values, fragment in BAD_VALUES:
        try:
            render(merged(REQUIRED, values))
        except (helm.HelmValuesError, helm.HelmRenderError) as error:
            expect(fragment in str(error), f"bad values {values} failed, but the message does not name {fragment!r}: {error}")
            continue
        raise Failure(f"bad values were accepted: {values}")
    return len(BAD_VALUES)


def check_autoscaling(manifests, values, notes):
    """KEDA's triggers as the Redis of `values` needs them (one Redis, a cluster, Sentinels, TLS, an
    existing Secret), or the CPU HPA when KEDA is off."""
    keda = values.get("worker", {}).get("autoscaling", {}).get("keda", {}).get("enabled")
    if values.get("redis", {}).get("cluster", {}).get("enabled"):
        check_cluster(manifests, values)
    elif keda and values.get("existingSecret"):
        check_keda(manifests, values, 1000, "redis.mail.svc:6379", "0", {"password": "REDIS_PASSWORD"})
        expect(not find(manifests, "Secret"), "existingSecret: the chart must not make a Secret")
        expect("WARNING" not in notes, "existingSecret: NOTES must not claim values are missing")
    elif keda and values.get("redis", {}).get("sentinel", {}).get("enabled"):
        for group in ("actions", "warehouse"):
            trigger = one(manifests, "ScaledObject", f"{FULLNAME}-worker-{group}")["spec"]["triggers"][0]
            metadata = trigger["metadata"]
            expect(trigger["type"] == "redis-sentinel-streams", f"{group}: KEDA must follow the Sentinels: {trigger['type']}")
            expect(metadata["addresses"] == "redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379"
                   and metadata["sentinelMaster"] == "mymaster" and "address" not in metadata, f"{group}: {metadata}")
            expect(metadata["lagCount"] == "500" and metadata["consumerGroup"] == group, f"{group}: lag mode {metadata}")
        refs = one(manifests, "TriggerAuthentication", f"{FULLNAME}-redis")["spec"]["secretTargetRef"]
        expect({r["parameter"]: r["key"] for r in refs} == {"password": "REDIS_PASSWORD"}, f"TriggerAuthentication keys {refs}")
    elif keda and values.get("redis", {}).get("tls"):
        check_keda(manifests, values, 500, "redis.mail.svc:6380", "1", {"username": "REDIS_USERNAME", "password": "REDIS_PASSWORD",
                                                                       "ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"})
        for group in ("actions", "warehouse"):
            metadata = one(manifests, "ScaledObject", f"{FULLNAME}-worker-{group}")["spec"]["triggers"][0]["metadata"]
            expect(metadata.get("enableTLS") == "true", f"{group}: KEDA must speak TLS to a rediss:// Redis")
    elif keda:
        check_keda(manifests, values, 500, "redis.mail.svc:6379", "1", {"username": "REDIS_USERNAME", "password": "REDIS_PASSWORD"})
        secret = one(manifests, "Secret", FULLNAME)["stringData"]
        expect(secret["REDIS_USERNAME"] == "relay" and secret["REDIS_PASSWORD"] == "s3cret", "Redis credentials for KEDA")
    else:
        check_hpa(manifests)


def check_ingress(manifests, values, notes):
    if values.get("ingress", {}).get("enabled"):
        ingress = one(manifests, "Ingress", FULLNAME)
        expect(ingress["spec"]["ingressClassName"] == "nginx", "ingress class")
        expect(ingress["spec"]["tls"] == [{"hosts": ["hooks.example.com"], "secretName": "hooks-tls"}], "ingress TLS")
        expect(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"},
               "the ingress routes to the webhook port")
        expect("https://hooks.example.com/webhooks/customerio" in notes, "NOTES gives the webhook URL")
    else:
        expect(not find(manifests, "Ingress", FULLNAME), "no webhook Ingress unless enabled")


def check_scenario(title, values, version, write_rules):
    """Lints, renders and validates one set of values and checks what it must produce; answers
    lint's notes and a line for the report."""
    infos = set()
    infos.update(lint(values, version))
    manifests, notes = render(values)
    validate(manifests, version)
    check_workloads(manifests, values)
    check_console(manifests, values)
    check_autoscaling(manifests, values, notes)
    check_ingress(manifests, values, notes)
    details = ""
    if values.get("metrics", {}).get("prometheusRule", {}).get("enabled"):
        details = check_monitoring(manifests, write_rules)
    else:
        expect(not find(manifests, "ServiceMonitor") and not find(manifests, "PrometheusRule"), "monitoring is off by default")
    if title == "defaults":
        expect("WARNING: pods cannot start until you set" in notes and "redis.url" in notes, "NOTES must list missing values")
    if title == "required values, KEDA off (CPU HPA)":
        expect("WARNING" not in notes, "NOTES must not warn when everything is set")
    return infos, f"chart: {title}: {len(manifests)} manifests valid for Kubernetes {version}{details}"


def check_rollouts_and_versions():
    """A configuration change rolls the pods and nothing else does; the chart's appVersion is the
    binary's; a group that may scale to zero has no metrics-absent alert."""
    # A change to the configuration rolls the pods; a change elsewhere does not.
    before, _ = render(REQUIRED)
    after, _ = render(merged(REQUIRED, {"config": {"limits": {"max_body_bytes": 2097152}}}))
    same, _ = render(merged(REQUIRED, {"receiver": {"service": {"annotations": {"a": "b"}}}}))
    checksum = lambda m: one(m, "Deployment", f"{FULLNAME}-receiver")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    expect(checksum(before) != checksum(after), "changing config must change the pods' checksum/config")
    expect(checksum(before) == checksum(same), "checksum/config must not change for unrelated values")
    print("chart: a configuration change rolls the pods (checksum/config), an unrelated change does not")

    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    build = re.search(r'static let version = "([^"]+)"', (ROOT / "Sources" / "RelayApp" / "BuildInfo.swift").read_text())
    expect(build and chart_yaml["appVersion"] == build.group(1),
           f"Chart.yaml appVersion {chart_yaml['appVersion']} differs from the binary's version (BuildInfo.version)")
    print(f"chart: appVersion {chart_yaml['appVersion']} is the version the binary reports (cio_relay_build_info)")

    # A group KEDA may scale to zero is silent while idle: no "metrics absent" alert for it.
    idle, _ = render(merged(REQUIRED, KEDA_ON, MONITORING, {"worker": {"groups": {"actions": {"minReplicas": 0}}}}))
    absent = [r["labels"]["group"] for r in one(idle, "PrometheusRule", FULLNAME)["spec"]["groups"][0]["rules"]
              if r.get("alert") == "CioRelayWorkerMetricsAbsent"]
    expect(absent == ["warehouse"], f"with actions at minReplicas 0, only warehouse may have an absent alert: {absent}")
    print("chart: a group that may scale to zero has no metrics-absent alert; the others keep theirs")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kube-version", default="1.30.0")
    parser.add_argument("--write-rules", action="store_true")
    arguments = parser.parse_args()
    scenarios = [
        ("defaults", {}),
        ("required values, KEDA off (CPU HPA)", REQUIRED),
        ("KEDA on", merged(REQUIRED, KEDA_ON)),
        ("ingress with TLS", merged(REQUIRED, INGRESS_TLS)),
        ("existingSecret + KEDA", EXISTING_SECRET),
        ("monitoring on", merged(REQUIRED, MONITORING)),
        ("BigQuery with a key Secret", merged(REQUIRED, BIGQUERY_KEY)),
        ("BigQuery with Workload Identity", merged(REQUIRED, BIGQUERY_WORKLOAD_IDENTITY)),
        ("Redis Cluster, 16 partitions, KEDA on Prometheus", merged(REQUIRED, CLUSTER)),
        ("console behind an Ingress with the admin token", merged(REQUIRED, CONSOLE)),
        ("console Ingress with existingSecret, token acknowledged", merged(EXISTING_SECRET, {"console": {"ingress": {
            "enabled": True, "acknowledgeTokenInSecret": True, "hosts": ["console.example.com"]}}})),
        ("a Redis user and extra keys per role", merged(REQUIRED, PER_ROLE)),
        ("TLS to Redis (mutual) and PostgreSQL, KEDA on", merged(REQUIRED, TLS, KEDA_ON)),
        ("Redis Sentinel, KEDA on", merged(REQUIRED, SENTINEL, KEDA_ON)),
        ("everything on", merged(REQUIRED, KEDA_ON, INGRESS_TLS, MONITORING)),
    ]
    infos = set()
    try:
        for title, values in scenarios:
            notes, line = check_scenario(title, values, arguments.kube_version, arguments.write_rules)
            infos.update(notes)
            print(line)
        check_rollouts_and_versions()
        print(f"chart: {check_bad_values()} sets of bad values are refused, each with a message naming the value")
    except Failure as failure:
        print(f"chart: FAILED: {failure}", file=sys.stderr)
        return 1
    if infos:
        print("chart: lint notes (informational): " + "; ".join(sorted(infos)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
