"""The floor for benchmark 1: the least any tool must do, a bare paginated DescribeVolumes.

Its responses' timestamps are parsed as reclaim parses them (the standard library, through
botocore's parser factory: generator.aws.timestamps), not by botocore's default dateutil
parser, which costs ~0.1 ms a timestamp more: a floor that used it would flatter reclaim.
Prints how many volumes it saw. Run: python -m benchmarks.floor_describe_volumes REGION"""

from __future__ import annotations

import sys

import boto3
import botocore.session

from generator.aws.timestamps import response_parser_factory

if __name__ == "__main__":
    core = botocore.session.Session()
    core.register_component("response_parser_factory", response_parser_factory())
    ec2 = boto3.Session(botocore_session=core).client("ec2", region_name=sys.argv[1])
    pages = ec2.get_paginator("describe_volumes").paginate()
    print(sum(1 for page in pages for volume in page["Volumes"] if not volume["Attachments"]))
