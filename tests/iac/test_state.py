"""Terraform state read from a state file (format 4) or `terraform show -json`, locally or
from S3 through a reader, with clear errors for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.iac.config import TerraformRoot
from generator.iac.state import parse_state, read_state

STATE = {
    "version": 4,
    "terraform_version": "1.11.4",
    "resources": [
        {
            "mode": "managed",
            "type": "aws_ebs_volume",
            "name": "by_team",
            "instances": [
                {
                    "index_key": "red",
                    "attributes": {
                        "id": "vol-red",
                        "arn": "arn:aws:ec2:us-east-1:1:volume/vol-red",
                    },
                },
                {"index_key": "blue", "attributes": {"id": "vol-blue"}},
            ],
        },
        {
            "mode": "managed",
            "module": "module.disks",
            "type": "aws_ebs_volume",
            "name": "this",
            "instances": [{"index_key": 0, "attributes": {"id": "vol-a"}}],
        },
        {
            "mode": "data",
            "type": "aws_caller_identity",
            "name": "me",
            "instances": [{"attributes": {"id": "1"}}],
        },
    ],
}

SHOW = {
    "format_version": "1.0",
    "values": {
        "root_module": {
            "resources": [
                {
                    "address": "aws_eip.spare",
                    "mode": "managed",
                    "type": "aws_eip",
                    "name": "spare",
                    "values": {"id": "eipalloc-1"},
                }
            ],
            "child_modules": [
                {
                    "address": "module.disks",
                    "resources": [
                        {
                            "mode": "managed",
                            "type": "aws_ebs_volume",
                            "name": "this",
                            "index": "a",
                            "values": {"id": "vol-a", "arn": None},
                        }
                    ],
                }
            ],
        }
    },
}


def test_a_state_file_gives_addresses_ids_and_arns_of_managed_resources_only() -> None:
    found = parse_state(json.dumps(STATE), root="storage", source="s")
    assert [(i.address, i.id, i.arn) for i in found] == [
        ('aws_ebs_volume.by_team["red"]', "vol-red", "arn:aws:ec2:us-east-1:1:volume/vol-red"),
        ('aws_ebs_volume.by_team["blue"]', "vol-blue", None),
        ("module.disks.aws_ebs_volume.this[0]", "vol-a", None),
    ]


def test_terraform_show_json_gives_the_same_facts() -> None:
    found = parse_state(json.dumps(SHOW), root="storage", source="s")
    assert [i.address for i in found] == ["aws_eip.spare", 'module.disks.aws_ebs_volume.this["a"]']


def test_other_documents_are_refused_with_the_source_named() -> None:
    with pytest.raises(ConfigError, match="state format 3 is not supported"):
        parse_state('{"version": 3}', root="r", source="old.tfstate")
    with pytest.raises(ConfigError, match=r"old\.tfstate"):
        parse_state("[1", root="r", source="old.tfstate")


def test_read_from_a_file_or_through_the_s3_reader(tmp_path: Path) -> None:
    (tmp_path / "terraform.tfstate").write_text(json.dumps(STATE))
    local = TerraformRoot.model_validate(
        {"name": "a", "path": ".", "state": {"local": "terraform.tfstate"}}
    )
    assert len(read_state(local, tmp_path)) == 3
    remote = TerraformRoot.model_validate(
        {
            "name": "b",
            "path": ".",
            "state": {"s3": {"bucket": "bkt", "key": "k.tfstate", "region": "us-east-1"}},
        }
    )
    asked: list[tuple[str, str, str]] = []

    def reader(bucket: str, key: str, region: str) -> bytes:
        asked.append((bucket, key, region))
        return json.dumps(SHOW).encode()

    assert len(read_state(remote, tmp_path, reader)) == 2
    assert asked == [("bkt", "k.tfstate", "us-east-1")]
    with pytest.raises(ConfigError, match="does not exist"):
        read_state(
            TerraformRoot.model_validate(
                {"name": "c", "path": ".", "state": {"show_json": "no.json"}}
            ),
            tmp_path,
        )


def test_s3_state_is_read_through_a_client_and_a_missing_key_is_a_clear_error(aws: None) -> None:
    import boto3

    from generator.iac.s3 import read_object

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-tf-state")
    s3.put_object(Bucket="acme-tf-state", Key="prod.tfstate", Body=json.dumps(STATE).encode())
    root = TerraformRoot.model_validate(
        {
            "name": "p",
            "path": ".",
            "state": {
                "s3": {"bucket": "acme-tf-state", "key": "prod.tfstate", "region": "us-east-1"}
            },
        }
    )
    found = read_state(root, Path("."), lambda bucket, key, region: read_object(s3, bucket, key))
    assert [i.id for i in found] == ["vol-red", "vol-blue", "vol-a"]
    with pytest.raises(
        ConfigError, match=r"s3://acme-tf-state/other\.tfstate: NoSuchKey"
    ) as raised:
        read_object(s3, "acme-tf-state", "other.tfstate")
    assert raised.value.hint is not None and "s3:GetObject" in raised.value.hint
