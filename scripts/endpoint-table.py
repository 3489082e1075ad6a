#!/usr/bin/env python3
"""Copies botocore's partitions.json to src/aws/partitions.json (the partitions stevedore's resolver
reads) and writes tests/fixtures/endpoints/hosts.json: the endpoint AWS's own rule sets give each service
stevedore calls, per region (one per partition), FIPS and dual-stack flag, evaluated by botocore's
rule-set engine (botocore.endpoint_provider.EndpointProvider over the rule set and partitions.json
that ship with botocore). A row whose rule set refuses the combination carries "error" instead of
"url"; the Rust resolver (src/aws/endpoints.rs) must refuse it too.

Usage: pip install botocore && python3 scripts/endpoint-table.py
"""

import json
import os
import shutil
import sys

import botocore
from botocore.endpoint_provider import EndpointProvider, EndpointResolutionError
from botocore.loaders import create_loader

# botocore service name -> the SDK service id stevedore uses (`AWS_ENDPOINT_URL_<ID>`).
SERVICES = {
    # Hand-written clients (src/aws/endpoints.rs resolves these).
    "ecr": "ECR",
    "apprunner": "AppRunner",
    "logs": "CloudWatch Logs",
    "elbv2": "Elastic Load Balancing v2",
    "cloudwatch": "CloudWatch",
    "s3": "S3",
    "events": "EventBridge",
    # SDK clients (the SDK's own resolver; the test checks it is given the flags).
    "ecs": "ECS",
    "lambda": "Lambda",
    "sts": "STS",
}
REGIONS = ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1"]
# S3: one bucket that is virtual-hostable, one that is not (dots: path-style).
BUCKETS = ["artifacts-123", "my.bucket"]


def params(service, region, fips, dualstack, bucket=None):
    p = {"Region": region, "UseFIPS": fips, "UseDualStack": dualstack}
    if service == "s3":
        # The Rust SDK's and stevedore's defaults: no accelerate, no path-style forcing, regional us-east-1.
        p.update(
            {
                "Bucket": bucket,
                "ForcePathStyle": False,
                "Accelerate": False,
                "UseGlobalEndpoint": False,
                "DisableMultiRegionAccessPoints": False,
                "UseArnRegion": True,
            }
        )
    if service == "sts":
        p["UseGlobalEndpoint"] = False
    return p


def main():
    loader = create_loader()
    partitions = loader.load_data("partitions")
    rows = []
    for service in SERVICES:
        rules = loader.load_service_model(service, "endpoint-rule-set-1")
        provider = EndpointProvider(rules, partitions)
        for region in REGIONS:
            for fips in (False, True):
                for dualstack in (False, True):
                    for bucket in BUCKETS if service == "s3" else [None]:
                        row = {
                            "service": service,
                            "service_id": SERVICES[service],
                            "region": region,
                            "fips": fips,
                            "dualstack": dualstack,
                        }
                        if bucket is not None:
                            row["bucket"] = bucket
                        try:
                            e = provider.resolve_endpoint(
                                **params(service, region, fips, dualstack, bucket)
                            )
                            row["url"] = e.url
                        except EndpointResolutionError as err:
                            row["error"] = str(err)
                        rows.append(row)
    out = {
        "generated_by": "scripts/endpoint-table.py",
        "botocore": botocore.__version__,
        "rows": rows,
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "endpoints", "hosts.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(rows)} rows -> {path}", file=sys.stderr)
    src = os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json")
    shutil.copyfile(src, os.path.join(root, "src", "aws", "partitions.json"))


if __name__ == "__main__":
    main()
