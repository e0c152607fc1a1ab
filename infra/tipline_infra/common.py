"""Small helpers shared by both stacks."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def checkov_skip(construct: IConstruct, *skips: tuple[str, str]) -> None:
    """Record a justified checkov skip in the resource's template metadata, where a reviewer sees it.

    Each skip is (check id, why it does not apply); checkov reads `Metadata.checkov.skip` from
    CloudFormation templates.
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"].extend({"id": check, "comment": why} for check, why in skips)
    resource.add_metadata("checkov", existing)
