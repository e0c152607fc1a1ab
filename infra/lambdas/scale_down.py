"""Budget action: when the monthly budget is spent, pin the app tier to its floor.

AWS Budgets' own actions can apply IAM/SCP policies or stop EC2/RDS instances, but cannot scale
an ECS service; so the 100 % budget notification goes to an SNS topic that invokes this function,
which sets the service's scaling target to min = max = FLOOR. The next `cdk deploy` restores the
configured range.
"""

import json
import os

import boto3

autoscaling = boto3.client("application-autoscaling")


def handler(event, context):
    floor = int(os.environ["FLOOR"])
    autoscaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=os.environ["RESOURCE_ID"],
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=floor,
        MaxCapacity=floor,
    )
    print(json.dumps({"event": "budget spent: app tier pinned", "resource": os.environ["RESOURCE_ID"], "tasks": floor}))
    return {"tasks": floor}
