"""The floor for benchmark 1: the least any tool must do, a bare paginated DescribeVolumes.
Prints how many volumes it saw. Run: python -m benchmarks.floor_describe_volumes REGION"""

from __future__ import annotations

import sys

import boto3

if __name__ == "__main__":
    ec2 = boto3.client("ec2", region_name=sys.argv[1])
    pages = ec2.get_paginator("describe_volumes").paginate()
    print(sum(1 for page in pages for volume in page["Volumes"] if not volume["Attachments"]))
