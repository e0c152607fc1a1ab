"""Custom resource that runs `tipline migrate` as a one-off ECS task before the service is updated.

CloudFormation creates or updates this resource (its properties name the new task definition)
before it touches the app service, which depends on it: on_event starts the task, is_complete
polls until it stops, and a non-zero exit fails the deploy, so a version whose migrations did
not apply never takes traffic and the stack rolls back to the running one.
"""

import json
import os

import boto3

ecs = boto3.client("ecs")


def on_event(event, context):
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    props = event["ResourceProperties"]
    started = ecs.run_task(
        cluster=props["Cluster"],
        taskDefinition=props["TaskDefinition"],
        launchType="FARGATE",
        count=1,
        startedBy="tipline-migrate",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": props["Subnets"],
                "securityGroups": props["SecurityGroups"],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    if started.get("failures") or not started.get("tasks"):
        raise RuntimeError("could not start the migration task: " + json.dumps(started.get("failures", [])))
    task_arn = started["tasks"][0]["taskArn"]
    print(json.dumps({"event": "migration started", "task": task_arn, "image": props.get("Image")}))
    return {
        "PhysicalResourceId": "migrate-" + props["TaskDefinition"].rsplit("/", 1)[-1],
        "Data": {"TaskArn": task_arn},
    }


def is_complete(event, context):
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    task_arn = event["Data"]["TaskArn"]
    task = ecs.describe_tasks(cluster=event["ResourceProperties"]["Cluster"], tasks=[task_arn])["tasks"][0]
    if task["lastStatus"] != "STOPPED":
        return {"IsComplete": False}
    codes = {c["name"]: c.get("exitCode") for c in task.get("containers", [])}
    # Success is every container exiting 0; a task that never ran its container (no exit code) failed.
    if not codes or any(code != 0 for code in codes.values()):
        raise RuntimeError(
            "migration task failed: exit codes "
            + json.dumps(codes)
            + ", "
            + str(task.get("stoppedReason", ""))
            + "; see the migrate log group "
            + os.environ.get("LOG_GROUP", "")
        )
    print(json.dumps({"event": "migration finished", "task": task_arn}))
    return {"IsComplete": True}
