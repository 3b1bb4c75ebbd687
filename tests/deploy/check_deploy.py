#!/usr/bin/env python3
"""Checks rib's deployment files against the binaries and metrics they name.

  check_deploy.py manifests --root SRC --bin BIN
      Every Kubernetes manifest in SRC/deploy/k8s and SRC/docker-compose.yml: each
      document well-formed (apiVersion, kind, metadata.name); each workload's selector
      matching its pod labels, its volume mounts naming declared volumes, its probes
      naming declared ports (a gRPC probe on the port the coordinator's --listen names);
      each Service selecting a workload and targeting its declared ports; and every
      --flag passed to a rib binary listed by that binary's --help (BIN/rib-*).
  check_deploy.py grafana --dashboard FILE --scrape FILE...
      Every metric the Grafana dashboard's queries name is in one of the scrapes
      (Prometheus text format from running rib processes).

Prints one line per problem and exits 1 if there was any; 0 and a summary otherwise.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

import yaml

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def binary_flags(bin_dir, name, cache={}):
    """The --flags that BIN/name's --help lists."""
    if name not in cache:
        out = subprocess.run([os.path.join(bin_dir, name), "--help"], capture_output=True,
                             text=True, check=False).stdout
        cache[name] = set(re.findall(r"^  (--[a-z0-9-]+)", out, re.M))
        if not cache[name]:
            problem(name, f"--help listed no flags (is {bin_dir}/{name} built?)")
    return cache[name]


def check_rib_args(where, bin_dir, binary, args):
    flags = binary_flags(bin_dir, binary)
    for a in args:
        if isinstance(a, str) and a.startswith("--"):
            flag = a.split("=", 1)[0]
            if flag not in flags:
                problem(where, f"{binary} has no flag {flag} (its --help does not list it)")


def flag_value(args, flag):
    for a in args:
        if isinstance(a, str) and a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}


def check_workload(where, doc, bin_dir):
    spec = doc.get("spec", {})
    template = spec.get("template", {})
    labels = template.get("metadata", {}).get("labels", {}) or {}
    selector = spec.get("selector", {}).get("matchLabels", {}) or {}
    if not selector:
        problem(where, "spec.selector.matchLabels is empty")
    for k, v in selector.items():
        if labels.get(k) != v:
            problem(where, f"selector {k}={v} does not match the pod template's labels")
    pod = template.get("spec", {})
    volumes = {v["name"] for v in pod.get("volumes", []) or []}
    volumes |= {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", []) or []}
    containers = pod.get("containers") or []
    if not containers:
        problem(where, "no containers")
    ports_by_name = {}
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        if not c.get("image"):
            problem(cw, "no image")
        ports = c.get("ports", []) or []
        numbers = {p["containerPort"] for p in ports}
        names = {p["name"] for p in ports if "name" in p}
        ports_by_name.update({p["name"]: p["containerPort"] for p in ports if "name" in p})
        for m in c.get("volumeMounts", []) or []:
            if m["name"] not in volumes:
                problem(cw, f"mounts volume '{m['name']}', which the pod does not declare")
        command = c.get("command") or []
        args = c.get("args") or []
        binary = os.path.basename(command[0]) if command else ""
        if binary.startswith("rib"):
            check_rib_args(cw, bin_dir, binary, args)
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = c.get(kind)
            if not probe:
                continue
            if "grpc" in probe:
                port = probe["grpc"]["port"]
                if port not in numbers:
                    problem(cw, f"{kind} probes gRPC port {port}, not a declared port")
                listen = flag_value(args, "--listen")
                if binary == "rib-coordinator" and (listen is None or
                                                    not listen.endswith(f":{port}")):
                    problem(cw, f"{kind} probes port {port} but --listen is {listen}")
            if "httpGet" in probe:
                port = probe["httpGet"]["port"]
                if port not in names and port not in numbers:
                    problem(cw, f"{kind} probes HTTP port {port}, not a declared port")
    return labels, ports_by_name


def manifests(root, bin_dir):
    workloads = []  # (labels, ports_by_name)
    services = []
    stateful_service_names = []
    files = sorted(glob.glob(os.path.join(root, "deploy/k8s/*.yaml")))
    if not files:
        problem("deploy/k8s", "no manifests")
    kinds = {}
    for path in files:
        rel = os.path.relpath(path, root)
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for i, doc in enumerate(docs):
            where = f"{rel} document {i + 1}"
            for key in ("apiVersion", "kind"):
                if not doc.get(key):
                    problem(where, f"no {key}")
            name = (doc.get("metadata") or {}).get("name")
            if not name:
                problem(where, "no metadata.name")
            where = f"{rel} {doc.get('kind')}/{name}"
            kinds[doc.get("kind")] = kinds.get(doc.get("kind"), 0) + 1
            if doc.get("kind") in WORKLOADS:
                workloads.append(check_workload(where, doc, bin_dir))
                if doc["kind"] == "StatefulSet":
                    stateful_service_names.append((where, doc["spec"].get("serviceName")))
            elif doc.get("kind") == "Service":
                services.append((where, doc))
    service_names = {d["metadata"]["name"] for _, d in services}
    for where, name in stateful_service_names:
        if name not in service_names:
            problem(where, f"serviceName {name} names no Service in deploy/k8s")
    for where, svc in services:
        selector = svc["spec"].get("selector") or {}
        matching = [w for w in workloads
                    if all(w[0].get(k) == v for k, v in selector.items())]
        if not selector or not matching:
            problem(where, f"selector {selector} selects no workload in deploy/k8s")
            continue
        for p in svc["spec"].get("ports", []):
            target = p.get("targetPort", p.get("port"))
            ok = any(target in ports or target in ports.values() for _, ports in matching)
            if not ok:
                problem(where, f"targetPort {target} is not a port of the selected pods")
    for kind in ("Deployment", "DaemonSet", "StatefulSet", "Service"):
        if kind not in kinds:
            problem("deploy/k8s", f"no {kind}")

    compose_path = os.path.join(root, "docker-compose.yml")
    with open(compose_path) as f:
        compose = yaml.safe_load(f)
    for name, svc in (compose.get("services") or {}).items():
        build = svc.get("build")
        if not build:
            continue  # not a rib image (postgres)
        dockerfile = os.path.join(root, build.get("dockerfile", "Dockerfile"))
        if not os.path.exists(dockerfile):
            problem(f"docker-compose.yml {name}", f"no such Dockerfile {dockerfile}")
            continue
        entry = svc.get("entrypoint")
        if entry is None:  # the Dockerfile's ENTRYPOINT
            with open(dockerfile) as f:
                m = re.search(r'^ENTRYPOINT \["([^"]+)"', f.read(), re.M)
            entry = [m.group(1)] if m else []
        binary = os.path.basename(entry[0]) if entry else ""
        if binary.startswith("rib"):
            check_rib_args(f"docker-compose.yml {name}", bin_dir, binary,
                           svc.get("command") or [])
    return len(files), sum(kinds.values())


def dockerfiles(root, bin_dir):
    """Each Dockerfile's runtime (last) stage installs the packages rib_runtime_packages
    lists, not the build-and-test list; and that list, for the coordinator built here,
    holds the package of every system library the binary loads."""
    for name in ("Dockerfile", "Dockerfile.cuda"):
        path = os.path.join(root, "deploy", name)
        with open(path) as f:
            stages = re.split(r"^FROM ", f.read(), flags=re.M)
        runtime, build = stages[-1], "".join(stages[:-1])
        where = f"deploy/{name}"
        if "rib_install_deps" in runtime:
            problem(where, "the runtime stage runs rib_install_deps (build and test packages)")
        if "rib_runtime_packages" not in build or "runtime-packages.txt" not in runtime:
            problem(where, "the runtime stage does not install rib_runtime_packages' list")
    binary = os.path.join(bin_dir, "rib-coordinator")
    out = subprocess.run(
        ["bash", "-c", f'source "{root}/scripts/lib.sh" && rib_runtime_packages "$0"', binary],
        capture_output=True, text=True)
    if out.returncode != 0:
        problem("rib_runtime_packages", f"failed: {out.stderr.strip()}")
        return
    listed = set(out.stdout.split())
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for lib in re.findall(r"=> (/\S+)", ldd):
        if "libpq" not in lib and "grpc++" not in lib:
            continue  # two the coordinator cannot run without; dpkg -S is slow
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True,
                               text=True).stdout.split(":")[0]
        if owner and owner not in listed:
            problem("rib_runtime_packages", f"{lib} is loaded, its package {owner} not listed")


def metric_names_in_scrape(text):
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, 1)[0])
    return names


def grafana(dashboard, scrapes):
    with open(dashboard) as f:
        d = json.load(f)
    exported = set()
    for s in scrapes:
        with open(s) as f:
            exported |= metric_names_in_scrape(f.read())
    used = set()
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                # Metric names are rib_*; label names and functions are not.
                used.update(re.findall(r"\b(rib_[a-z_]+)\b", t.get("expr", "")))
            walk(p.get("panels", []))
    walk(d.get("panels", []))
    if not used:
        problem(dashboard, "no query names a rib metric")
    for name in sorted(used):
        if name not in exported:
            problem(dashboard, f"queries {name}, which no scrape exports")
    return used


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--root", required=True)
    m.add_argument("--bin", required=True)
    g = sub.add_parser("grafana")
    g.add_argument("--dashboard", required=True)
    g.add_argument("--scrape", action="append", required=True)
    a = ap.parse_args()
    if a.cmd == "manifests":
        files, docs = manifests(a.root, a.bin)
        dockerfiles(a.root, a.bin)
        summary = f"{files} manifest files, {docs} documents, docker-compose.yml, 2 Dockerfiles"
    else:
        used = grafana(a.dashboard, a.scrape)
        summary = f"{len(used)} metrics the dashboard queries, all exported"
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problems", file=sys.stderr)
        return 1
    print(f"ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
