"""Budget action: what spending the whole monthly budget does to Tipline's services.

AWS Budgets' own actions can apply IAM/SCP policies or stop EC2/RDS instances, but cannot scale
an ECS service; so the 100 % budget notification goes to an SNS topic that invokes this function.
The stack's budgetAction chooses what it does (ACTION):

- cap:  the app service's scaling range becomes min = max = APP_MIN (the site stays up, small);
- stop: the app and watcher services go to 0 tasks and the range to 0..0 (the site is down; the
        database, Redis, NAT gateways and load balancer keep running and costing).

Invoked directly with {"action": "restore"}, it puts back the configured range (APP_MIN..APP_MAX)
and the watcher's one task: a later deploy does not, since CloudFormation leaves alone a resource
whose template did not change.
"""

import json
import os

import boto3

autoscaling = boto3.client("application-autoscaling")
ecs = boto3.client("ecs")


def _set(cluster, service, desired, scaling=None):
    if scaling is not None:
        autoscaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=f"service/{cluster}/{service}",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=scaling[0],
            MaxCapacity=scaling[1],
        )
    # Registering moves the running count into the range, but only when scaling acts; say it outright.
    ecs.update_service(cluster=cluster, service=service, desiredCount=desired)


def handler(event, context):
    action = event.get("action") if isinstance(event, dict) and "action" in event else os.environ["ACTION"]
    cluster, app, watcher = os.environ["CLUSTER"], os.environ["APP_SERVICE"], os.environ.get("WATCHER_SERVICE")
    low, high = int(os.environ["APP_MIN"]), int(os.environ["APP_MAX"])
    if action == "cap":
        tasks = {app: low}
        _set(cluster, app, low, scaling=(low, low))
    elif action == "stop":
        tasks = {app: 0}
        _set(cluster, app, 0, scaling=(0, 0))
        if watcher:
            tasks[watcher] = 0
            _set(cluster, watcher, 0)
    elif action == "restore":
        tasks = {app: low}
        _set(cluster, app, low, scaling=(low, high))
        if watcher:
            tasks[watcher] = 1
            _set(cluster, watcher, 1)
    else:
        raise ValueError(f"unknown budget action {action!r}: cap, stop or restore")
    print(json.dumps({"event": f"budget action: {action}", "cluster": cluster, "tasks": tasks}))
    return {"action": action, "tasks": tasks}
