"""The two functions the stateless stack deploys (infra/lambdas/), run against an AWS emulator
(moto in server mode, on loopback): the migration hook waits for the one-off task to stop, and the
budget action caps the app service, or stops it and the watcher, and restores them. (The hook's
RunTask with an awsvpc network configuration is not covered: the emulator fails on it.)"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import free_port
from tests.infra.conftest import ROOT


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        yield env
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _load(name: str) -> ModuleType:
    # Each function's module creates its boto3 client at import, as in Lambda: import it afresh here.
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", ROOT / "infra" / "lambdas" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _migration_setup() -> dict[str, Any]:
    ecs = boto3.client("ecs")
    cluster = ecs.create_cluster(clusterName="tipline-test")["cluster"]["clusterName"]
    task = ecs.register_task_definition(
        family="tipline-migrate",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "tipline", "image": "tipline:test", "memory": 1024, "command": ["migrate"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    return {
        "Cluster": cluster,
        "TaskDefinition": task,
        "Subnets": ["subnet-1"],
        "SecurityGroups": ["sg-1"],
        "Image": "v1",
    }


def test_migration_hook_waits_until_the_task_has_stopped(aws: dict[str, str]) -> None:
    hook = _load("migrate")
    props = _migration_setup()
    ecs = boto3.client("ecs")
    # The task as on_event starts it, less the awsvpc network configuration, which the emulator's
    # RunTask cannot handle (moto 5: NetworkInterface has no private_dns_name).
    bridged = ecs.register_task_definition(
        family="tipline-migrate-bridged",
        networkMode="bridge",
        containerDefinitions=[{"name": "tipline", "image": "tipline:test", "memory": 1024, "command": ["migrate"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    (task,) = ecs.run_task(cluster=props["Cluster"], taskDefinition=bridged, launchType="FARGATE", count=1)["tasks"]
    event = {"RequestType": "Create", "ResourceProperties": props, "Data": {"TaskArn": task["taskArn"]}}
    assert hook.is_complete(event, None) == {"IsComplete": False}  # still running: CloudFormation waits
    # The emulator ends a task with exit code 0 when it is stopped: the hook then lets the deploy go on.
    ecs.stop_task(cluster=props["Cluster"], task=task["taskArn"], reason="test")
    assert hook.is_complete(event, None) == {"IsComplete": True}
    # Removing the resource (stack deletion) starts nothing and waits for nothing.
    gone = hook.on_event(
        {"RequestType": "Delete", "PhysicalResourceId": "migrate-x", "ResourceProperties": props}, None
    )
    assert gone == {"PhysicalResourceId": "migrate-x"}
    assert hook.is_complete({"RequestType": "Delete", "ResourceProperties": props}, None) == {"IsComplete": True}
    assert ecs.list_tasks(cluster=props["Cluster"], desiredStatus="RUNNING")["taskArns"] == []


def _budget_services(cluster: str, monkeypatch: pytest.MonkeyPatch, action: str) -> Any:
    """An app service scaled 2..40 running 5 tasks and a watcher with 1, as the stack leaves them,
    and the function's environment as the stack sets it."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    task = ecs.register_task_definition(
        family="tipline-app", containerDefinitions=[{"name": "tipline", "image": "tipline:test", "memory": 1024}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="app", taskDefinition=task, desiredCount=5)
    ecs.create_service(cluster=cluster, serviceName="watcher", taskDefinition=task, desiredCount=1)
    boto3.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{cluster}/app",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=40,
    )
    for name, value in {
        "ACTION": action,
        "CLUSTER": cluster,
        "APP_SERVICE": "app",
        "APP_MIN": "2",
        "APP_MAX": "40",
        "WATCHER_SERVICE": "watcher",
    }.items():
        monkeypatch.setenv(name, value)
    return _load("scale_down")


def _state(cluster: str) -> dict[str, Any]:
    """Each service's desired count, and the app's scaling range."""
    services = boto3.client("ecs").describe_services(cluster=cluster, services=["app", "watcher"])["services"]
    (target,) = boto3.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{cluster}/app"]
    )["ScalableTargets"]
    return {
        **{s["serviceName"]: s["desiredCount"] for s in services},
        "range": (target["MinCapacity"], target["MaxCapacity"]),
    }


SNS_EVENT = {"Records": [{"Sns": {"Message": "budget exceeded"}}]}


def test_budget_action_cap_pins_the_app_service_to_its_floor(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    action = _budget_services("tipline-cap", monkeypatch, "cap")
    assert action.handler(SNS_EVENT, None) == {"action": "cap", "tasks": {"app": 2}}
    assert _state("tipline-cap") == {"app": 2, "watcher": 1, "range": (2, 2)}


def test_budget_action_stop_takes_app_and_watcher_to_zero_until_restored(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    action = _budget_services("tipline-stop", monkeypatch, "stop")
    assert action.handler(SNS_EVENT, None) == {"action": "stop", "tasks": {"app": 0, "watcher": 0}}
    # 0..0: autoscaling cannot start a task again on its own.
    assert _state("tipline-stop") == {"app": 0, "watcher": 0, "range": (0, 0)}
    # The operator's way back (docs/deploy-aws.md): invoke the function with {"action": "restore"}.
    assert action.handler({"action": "restore"}, None) == {"action": "restore", "tasks": {"app": 2, "watcher": 1}}
    assert _state("tipline-stop") == {"app": 2, "watcher": 1, "range": (2, 40)}
    with pytest.raises(ValueError, match="unknown budget action"):
        action.handler({"action": "delete-everything"}, None)
