"""deploy/: Kubernetes manifests validated against the CRD schemas shipped with
dask-kubernetes and the core API models of the kubernetes client; the container runs as a
non-root user (checked statically: there is no container engine here)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).parent.parent / "deploy"


def documents() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def crd_schema(kind: str) -> dict:
    pytest.importorskip("dask_kubernetes")
    folder = resources.files("dask_kubernetes.operator").joinpath(
        "deployment/helm/dask-kubernetes-operator/crds"
    )
    for entry in folder.iterdir():
        crd = yaml.safe_load(entry.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind}")


def strict_model_check(data: object, type_name: str, where: str) -> None:
    """Every key known to the kubernetes client's model and of the declared type."""
    from kubernetes import client

    type_name = re.sub(r"^List\[", "list[", re.sub(r"^Dict\[(.*)\]$", r"dict(\1)", type_name))
    if type_name.startswith("list["):
        assert isinstance(data, list), f"{where}: expected a list"
        for i, item in enumerate(data):
            strict_model_check(item, type_name[5:-1], f"{where}[{i}]")
        return
    if type_name.startswith("dict("):
        assert isinstance(data, dict), f"{where}: expected a mapping"
        value_type = type_name[5:-1].split(", ", 1)[1]
        for key, item in data.items():
            strict_model_check(item, value_type, f"{where}.{key}")
        return
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in simple:
        if (
            type_name == "str"
            and isinstance(data, int | float)
            and where.endswith(("cpu", "memory", "storage", "nvidia.com/gpu"))
        ):
            return  # quantities may be numbers
        assert isinstance(data, simple[type_name]), f"{where}: expected {type_name}, got {data!r}"
        return
    model = getattr(client, type_name)
    assert isinstance(data, dict), f"{where}: expected a {type_name} mapping"
    by_json = {v: k for k, v in model.attribute_map.items()}
    for key, value in data.items():
        assert key in by_json, f"{where}: {key!r} is not a field of {type_name}"
        strict_model_check(value, model.openapi_types[by_json[key]], f"{where}.{key}")


def test_dask_resources_validate_against_the_operator_crds() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    kinds = set()
    for name, doc in documents():
        if not doc["apiVersion"].startswith("kubernetes.dask.org/"):
            continue
        kinds.add(doc["kind"])
        jsonschema.validate(doc, crd_schema(doc["kind"]))
        for where, pod in pod_specs(doc):
            strict_model_check(pod, "V1PodSpec", f"{name}:{where}")
    assert kinds == {"DaskCluster", "DaskWorkerGroup", "DaskJob"}


def pod_specs(doc: dict) -> list[tuple[str, dict]]:
    spec = doc["spec"]
    if doc["kind"] == "DaskCluster":
        return [("scheduler", spec["scheduler"]["spec"]), ("worker", spec["worker"]["spec"])]
    if doc["kind"] == "DaskWorkerGroup":
        return [("worker", spec["worker"]["spec"])]
    cluster = spec["cluster"]["spec"]
    return [
        ("job", spec["job"]["spec"]),
        ("scheduler", cluster["scheduler"]["spec"]),
        ("worker", cluster["worker"]["spec"]),
    ]


def test_core_resources_validate_against_the_kubernetes_client_models() -> None:
    pytest.importorskip("kubernetes")
    seen = set()
    for name, doc in documents():
        if doc["apiVersion"].startswith("kubernetes.dask.org/"):
            continue
        kind = doc["kind"]
        seen.add(kind)
        strict_model_check(doc, f"V1{kind}", name)
    assert {"CronJob", "PersistentVolumeClaim", "ConfigMap"} <= seen


def test_gpu_workers_request_gpus_and_advertise_the_resource() -> None:
    groups = [d for _, d in documents() if d["kind"] == "DaskWorkerGroup"]
    container = groups[0]["spec"]["worker"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--resources" in container["command"] and "GPU=1" in container["command"]


def test_python_api_builds_the_shipped_worker_groups() -> None:
    pytest.importorskip("dask_kubernetes")
    from vsbatch.cluster import ClusterSpec, KubernetesOptions, kubernetes_gpu_worker_group

    shipped = next(d for _, d in documents() if d["kind"] == "DaskWorkerGroup")
    built = kubernetes_gpu_worker_group(
        ClusterSpec(
            kubernetes=KubernetesOptions(
                name="vsbatch", image="vsbatch:0.1.0-gpu", gpu_workers=1, memory="16Gi"
            )
        )
    )
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(built, crd_schema("DaskWorkerGroup"))
    assert built["spec"]["cluster"] == shipped["spec"]["cluster"]
    b = built["spec"]["worker"]["spec"]["containers"][0]
    s = shipped["spec"]["worker"]["spec"]["containers"][0]
    assert b["image"] == s["image"] and b["resources"]["limits"] == s["resources"]["limits"]


def test_container_runs_as_non_root_and_installs_like_the_readme() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    install = re.search(
        r"^RUN (python3 -m venv \.venv && \.venv/bin/pip install -q -e )", text, flags=re.M
    )
    readme = (DEPLOY.parent / "README.md").read_text().splitlines()[3]
    assert install and readme.startswith(install.group(1))
    assert text.index("USER vsbatch") < text.index("pip install")


def test_python_api_builds_a_valid_daskjob_like_the_shipped_one() -> None:
    pytest.importorskip("dask_kubernetes")
    jsonschema = pytest.importorskip("jsonschema")
    from vsbatch.cluster import ClusterSpec, KubernetesOptions, kubernetes_job_spec

    built = kubernetes_job_spec(
        ClusterSpec(kubernetes=KubernetesOptions(image="vsbatch:0.1.0", workers=8)),
        "/jobs/nightly.yaml",
    )
    jsonschema.validate(built, crd_schema("DaskJob"))
    for where, pod in pod_specs(built):
        strict_model_check(pod, "V1PodSpec", f"built:{where}")
    shipped = next(d for _, d in documents() if d["kind"] == "DaskJob")
    b, s = built["spec"], shipped["spec"]
    assert b["job"]["spec"]["containers"][0]["args"] == s["job"]["spec"]["containers"][0]["args"]
    assert b["cluster"]["spec"]["worker"]["replicas"] == s["cluster"]["spec"]["worker"]["replicas"]
    assert built["metadata"]["name"] == shipped["metadata"]["name"]
