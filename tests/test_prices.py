from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from generator.aws import price_list
from generator.aws.price_list import refresh_price_table
from generator.aws.prices import PriceTable, bundled_prices, load_price_table
from generator.cli import main
from generator.errors import AwsCallFailed, ConfigError

PRICES = bundled_prices()


def test_bundled_table_names_its_source_date_and_covers_every_rule_of_issue_3() -> None:
    table = bundled_prices()
    assert table.region == "us-east-1"
    assert date.fromisoformat(table.compiled)
    for section in (
        table.ebs,
        table.ec2,
        table.vpc,
        table.nat_gateway,
        table.logs,
        table.cloudfront,
        table.dynamodb,
        table.sagemaker,
    ):
        assert section.source
    assert {"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"} <= set(table.ebs.volume)
    assert table.ebs.snapshot.archive_gib_month < table.ebs.snapshot.standard_gib_month
    assert table.vpc.public_ipv4_hourly == 0.005
    assert table.public_ipv4_monthly() == pytest.approx(3.65)
    for family in ("t3", "t4g", "m5", "m6i", "m7g", "c6i", "r6i"):
        assert table.instance_hourly(f"{family}.large"), family
    assert table.logs.storage_gb_month > 0
    assert table.nat_gateway_cost(region="us-east-1").monthly_usd == pytest.approx(32.85)
    alb = table.load_balancer_cost(region="eu-west-1", kind="application")
    assert (alb.monthly_usd, alb.estimated) == (pytest.approx(16.43), True)
    assert set(table.cloudfront_price_class("PriceClass_100") or ()) < set(
        table.cloudfront_price_class("PriceClass_All") or ()
    )


def test_volume_prices_charge_only_iops_and_throughput_above_gp3_baseline() -> None:
    table = bundled_prices()
    assert table.volume_monthly("gp3", 100, 3000, 125) == (8.0, "100 GiB gp3 x $0.08/GiB-month")
    total, basis = table.volume_monthly("gp3", 100, 4000, 250) or (0, "")
    assert total == pytest.approx(8.0 + 1000 * 0.005 + 125 * 0.04)
    assert "1000 IOPS" in basis and "125 MiB/s" in basis
    io2, _ = table.volume_monthly("io2", 10, 40000, None) or (0, "")
    assert io2 == pytest.approx(1.25 + 32000 * 0.065 + 8000 * 0.0455)
    assert table.volume_monthly("weird", 1, None, None) is None
    cost = table.volume_cost(
        region="eu-west-1", volume_type="gp2", size_gib=10, iops=None, throughput_mibps=None
    )
    assert cost.estimated and "us-east-1 list prices" in cost.basis


def test_a_broken_price_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"region": "us-east-1"}')
    with pytest.raises(ConfigError, match=r"prices\.json is not valid"):
        load_price_table(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_price_table(path)


# ---- refresh from the Price List (stubbed: moto has no Pricing API) ------------------------


def product(usagetype: str, usd: str, unit: str, **attributes: str) -> str:
    dimensions = {
        "FREE.TIER": {"unit": unit, "beginRange": "0", "pricePerUnit": {"USD": "0"}},
        "RATE.ONE": {"unit": unit, "beginRange": "0", "pricePerUnit": {"USD": usd}},
        "RATE.TWO": {"unit": unit, "beginRange": "10240", "pricePerUnit": {"USD": "0.001"}},
    }
    return json.dumps(
        {
            "product": {"attributes": {"usagetype": usagetype, **attributes}},
            "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": dimensions}}},
        }
    )


class CountingStubber(Stubber):
    """A Stubber that counts the responses queued: what a refresh must report as its calls."""

    queued = 0

    def add_response(self, *args: Any, **kwargs: Any) -> None:
        self.queued += 1
        super().add_response(*args, **kwargs)


def expect(stubber: Stubber, service: str, pages: list[list[str]]) -> None:
    for index, page in enumerate(pages):
        response: dict[str, Any] = {"PriceList": page, "FormatVersion": "aws_v1"}
        if index + 1 < len(pages):
            response["NextToken"] = f"{service}-{index + 1}"
        request: dict[str, Any] = {
            "ServiceCode": service,
            "Filters": ANY,
            "FormatVersion": "aws_v1",
        }
        if index:
            request["NextToken"] = f"{service}-{index}"
        stubber.add_response("get_products", response, request)


def stub_price_list(stubber: Stubber, prefix: str = "EUW1-") -> None:
    expect(
        stubber,
        "AmazonEC2",
        [
            [
                product(f"{prefix}EBS:VolumeUsage.gp2", "0.11", "GB-Mo"),
                product(f"{prefix}EBS:VolumeUsage.gp3", "0.088", "GB-Mo"),
            ],
            [product(f"{prefix}EBS:VolumeUsage.piops", "0.138", "GB-Mo")],
        ],
    )
    expect(stubber, "AmazonEC2", [[product(f"{prefix}EBS:VolumeP-IOPS.gp3", "0.0055", "IOPS-Mo")]])
    expect(
        stubber,
        "AmazonEC2",
        [[product(f"{prefix}EBS:VolumeP-Throughput.gp3", "45.056", "GiBps-mo")]],
    )
    expect(
        stubber,
        "AmazonEC2",
        [
            [
                product(f"{prefix}EBS:SnapshotUsage", "0.053", "GB-Mo"),
                product(f"{prefix}EBS:SnapshotArchiveStorage", "0.0135", "GB-Mo"),
            ]
        ],
    )
    expect(
        stubber,
        "AmazonEC2",
        [
            [product(f"{prefix}BoxUsage:m5.large", "0.107", "Hrs", instanceType="m5.large")],
            [product(f"{prefix}BoxUsage:t3.micro", "0.0114", "Hrs", instanceType="t3.micro")],
        ],
    )
    expect(stubber, "AmazonVPC", [[product(f"{prefix}PublicIPv4:InUseAddress", "0.005", "Hrs")]])
    expect(
        stubber,
        "AmazonEC2",
        [
            [
                product(f"{prefix}NatGateway-Hours", "0.048", "Hrs"),
                product(f"{prefix}NatGateway-Bytes", "0.048", "GB"),
            ]
        ],
    )
    expect(
        stubber,
        "AWSELB",
        [
            [
                product(f"{prefix}LoadBalancerUsage", "0.0252", "Hrs"),
                product(f"{prefix}LCUUsage", "0.008", "LCU-Hrs"),
            ]
        ],
    )
    expect(stubber, "AWSELB", [[product(f"{prefix}LoadBalancerUsage", "0.0252", "Hrs")]])
    expect(
        stubber, "AmazonCloudWatch", [[product(f"{prefix}TimedStorage-ByteHrs", "0.0315", "GB-Mo")]]
    )
    expect(
        stubber,
        "AmazonCloudFront",
        [
            [
                product("EU-DataTransfer-Out-Bytes", "0.085", "GB"),
                product("SA-DataTransfer-Out-Bytes", "0.110", "GB"),
                product("SA-Requests-Tier1", "0.0000022", "Requests"),
            ]
        ],
    )
    expect(
        stubber,
        "AmazonRDS",
        [
            [
                product(
                    f"{prefix}InstanceUsage:db.t3.micro", "0.019", "Hrs", databaseEngine="MySQL"
                ),
                product(
                    f"{prefix}InstanceUsage:db.m5.large", "0.19", "Hrs", databaseEngine="PostgreSQL"
                ),
                # I/O-Optimized Aurora and engines the table does not price are not read.
                product(
                    f"{prefix}InstanceUsageIOOptimized:db.r5.large",
                    "0.377",
                    "Hrs",
                    databaseEngine="Aurora MySQL",
                ),
                product(
                    f"{prefix}InstanceUsage:db.m5.large", "0.5", "Hrs", databaseEngine="Oracle"
                ),
            ]
        ],
    )
    expect(stubber, "AmazonRDS", [[product(f"{prefix}RDS:GP3-Storage", "0.127", "GB-Mo")]])
    expect(stubber, "AmazonRedshift", [[product(f"{prefix}Node:ra3.xlplus", "1.235", "Hrs")]])
    expect(
        stubber,
        "AmazonDynamoDB",
        [
            [
                product(f"{prefix}ReadCapacityUnit-Hrs", "0.000147", "ReadCapacityUnit-Hrs"),
                product(f"{prefix}WriteCapacityUnit-Hrs", "0.000735", "WriteCapacityUnit-Hrs"),
                product(f"{prefix}ReplWriteCapacityUnit-Hrs", "0.0011", "ReplWriteCapacityUnit"),
                product(f"{prefix}ReadRequestUnits", "0.0000001413", "ReadRequestUnits"),
                product(f"{prefix}IA-ReadRequestUnits", "0.0000003", "ReadRequestUnits"),
            ]
        ],
    )
    expect(
        stubber,
        "AmazonSageMaker",
        [
            [
                product(f"{prefix}Host:ml.m5.large", "0.128", "Hrs"),
                product(f"{prefix}Train:ml.m5.large", "0.128", "Hrs"),
                product(f"{prefix}Notebk:ml.t3.medium", "0.05", "Hrs"),
            ]
        ],
    )
    expect(stubber, "AmazonS3", [[product(f"{prefix}TimedStorage-ByteHrs", "0.024", "GB-Mo")]])
    expect(
        stubber,
        "AWSSecretsManager",
        [
            [
                product(f"{prefix}AWSSecretsManager-Secrets", "0.42", "Secrets"),
                product(f"{prefix}AWSSecretsManager-APIRequest", "0.000005", "API Requests"),
            ]
        ],
    )


def test_refresh_rebuilds_the_table_and_lists_what_it_kept() -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    with CountingStubber(pricing) as stubber:
        stub_price_list(stubber)
        result = refresh_price_table(
            pricing, "eu-west-1", base=bundled_prices(), today=date(2026, 11, 28)
        )
        stubber.assert_no_pending_responses()
    table, bundled = result.table, bundled_prices()
    assert result.calls == stubber.queued  # one per query, and one per further page
    assert (table.region, table.compiled) == ("eu-west-1", "2026-11-28")
    assert "pricing:GetProducts" in table.source
    assert table.ebs.volume["gp2"].gib_month == 0.11
    assert table.ebs.volume["io1"].gib_month == 0.138
    assert table.ebs.volume["gp3"].iops_month == 0.0055
    assert table.ebs.volume["gp3"].mibps_month == pytest.approx(0.044)  # 45.056 / 1024
    assert table.ebs.snapshot.archive_gib_month == 0.0135
    assert table.ec2.on_demand_hourly == {"m5.large": 0.107, "t3.micro": 0.0114}
    assert table.logs.storage_gb_month == 0.0315
    assert (table.nat_gateway.hourly, table.nat_gateway.data_processed_gb) == (0.048, 0.048)
    assert (table.elb.alb_hourly, table.elb.alb_lcu_hourly) == (0.0252, 0.008)
    assert table.elb.nlb_hourly == 0.0252
    assert table.elb.nlb_lcu_hourly == bundled_prices().elb.nlb_lcu_hourly  # not answered: kept
    assert "elb.nlb_lcu_hourly" in result.kept
    assert table.cloudfront.data_transfer_out_gb["SA"] == 0.110
    # DynamoDB: the Standard class's rates; replicated and Infrequent-Access rates are not it.
    assert table.dynamodb.provisioned_rcu_hourly == 0.000147
    assert table.dynamodb.provisioned_wcu_hourly == 0.000735
    assert table.dynamodb.on_demand_read_per_million == pytest.approx(0.1413)
    assert "dynamodb.on_demand_write_per_million" in result.kept
    assert table.dynamodb.on_demand_write_per_million == PRICES.dynamodb.on_demand_write_per_million
    # SageMaker: real-time hosting only, not training or notebook hours.
    assert table.sagemaker.hosting_hourly == {"ml.m5.large": 0.128}
    assert table.s3 is not None and table.s3.standard_gb_month == 0.024
    assert table.secretsmanager is not None and table.secretsmanager.secret_month == 0.42
    # Absent from the answer: the bundled value stays, and the note says so.
    assert table.ebs.volume["st1"].gib_month == bundled_prices().ebs.volume["st1"].gib_month
    assert "ebs.volume.st1.gib_month" in result.kept
    assert "ebs.volume.st1.gib_month" in table.note
    assert "ebs.volume.gp2.gib_month" in result.refreshed
    assert table.rds.instance_hourly["mysql"] == {"db.t3.micro": 0.019}
    assert table.rds.instance_hourly["postgres"] == {"db.m5.large": 0.19}
    assert table.rds.hourly("mariadb", "db.t3.micro", multi_az=True) == pytest.approx(0.038)
    assert "rds.instance_hourly.aurora-mysql" in result.kept  # only I/O-Optimized answered
    assert table.rds.instance_hourly["aurora-mysql"] == bundled.rds.instance_hourly["aurora-mysql"]
    assert table.rds.storage_gb_month["gp3"] == 0.127
    assert "rds.storage_gb_month.gp2" in result.kept
    assert table.redshift.node_hourly == {"ra3.xlplus": 1.235}
    assert PriceTable.model_validate(table.model_dump(mode="json")) == table


def test_refresh_without_price_list_access_is_a_clear_error() -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stubber:
        stubber.add_client_error(
            "get_products", service_error_code="AccessDeniedException", service_message="no pricing"
        )
        with pytest.raises(AwsCallFailed, match="refused GetProducts for AmazonEC2") as error:
            refresh_price_table(pricing, "us-east-1", base=bundled_prices(), today=date.today())
    assert "pricing:GetProducts" in str(error.value.hint)


def test_cli_refresh_writes_a_table_scan_can_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    stubber = CountingStubber(pricing)
    stub_price_list(stubber, prefix="")
    stubber.activate()
    monkeypatch.setattr(
        "generator.aws.session.AccountSession.client", lambda self, service, region: pricing
    )
    out = tmp_path / "prices.json"
    result = CliRunner().invoke(main, ["prices", "refresh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"refreshed from the Price List in {stubber.queued} request(s)" in result.output
    assert load_price_table(out).ec2.on_demand_hourly["m5.large"] == 0.107


def test_cli_refresh_without_access_exits_with_the_aws_code_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pricing = boto3.client("pricing", region_name="us-east-1")
    stubber = Stubber(pricing)
    stubber.add_client_error("get_products", service_error_code="AccessDeniedException")
    stubber.activate()
    monkeypatch.setattr(
        "generator.aws.session.AccountSession.client", lambda self, service, region: pricing
    )
    out = tmp_path / "prices.json"
    result = CliRunner().invoke(main, ["prices", "refresh", "--out", str(out)])
    assert result.exit_code == 6
    assert "AccessDeniedException" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_usage_suffix_strips_region_prefixes() -> None:
    assert price_list._usage_suffix("USE2-EBS:VolumeUsage.gp2") == "EBS:VolumeUsage.gp2"
    assert price_list._usage_suffix("APN1-BoxUsage:m5.large") == "BoxUsage:m5.large"


# ---- volume arithmetic (from the end-to-end slice) ---------------------------------------


def cost(volume_type, size, iops=None, throughput=None, region="us-east-1"):
    return PRICES.volume_cost(
        region=region,
        volume_type=volume_type,
        size_gib=size,
        iops=iops,
        throughput_mibps=throughput,
    )


def test_size_only_types():
    assert cost("gp2", 100).monthly_usd == 10.0
    assert cost("st1", 500).monthly_usd == 22.5
    assert cost("sc1", 1000).monthly_usd == 15.0
    assert cost("standard", 10).monthly_usd == 0.5


def test_gp3_bills_only_iops_and_throughput_above_the_included_baseline():
    assert cost("gp3", 100, iops=3000, throughput=125).monthly_usd == 8.0
    # 3000 extra IOPS x 0.005 + 375 extra MiB/s x 0.04
    assert cost("gp3", 1000, iops=6000, throughput=500).monthly_usd == 80 + 15 + 15


def test_io1_and_io2_provisioned_iops():
    assert cost("io1", 500, iops=5000).monthly_usd == 62.5 + 325
    # io2 tiers: 32,000 x 0.065 + 32,000 x 0.0455 + 6,000 x 0.032
    assert cost("io2", 100, iops=70000).monthly_usd == round(12.5 + 2080 + 1456 + 192, 2)


def test_other_regions_are_marked_estimated_and_say_so():
    priced = cost("gp2", 100, region="eu-west-1")
    assert priced.estimated and priced.price_region == "us-east-1"
    assert "eu-west-1 may differ" in priced.basis
    assert not cost("gp2", 100).estimated


def test_unknown_type_is_unknown_not_zero_and_not_an_exception():
    priced = cost("io9", 100)
    assert priced.unknown and priced.monthly_usd == 0.0
    assert "io9" in priced.basis


def test_price_table_states_its_source_and_region():
    assert PRICES.region == "us-east-1"
    assert PRICES.source and PRICES.compiled


def test_a_table_refreshed_before_s3_and_secrets_manager_were_priced_still_loads() -> None:
    """Sections added after schema 2 shipped: an older refreshed table lacks them; the
    findings needing them are priced unknown (with how to fix it), nothing else changes."""
    data = bundled_prices().model_dump(mode="json")
    del data["s3"], data["secretsmanager"]
    older = PriceTable.model_validate(data)
    cost = older.secret_cost(region="us-east-1")
    assert cost.unknown and "reclaim prices refresh" in cost.basis
    stale = older.s3_standard_storage_cost(region="us-east-1", stored_bytes=10 * 1024**3, what="x")
    assert stale.unknown
    fresh = bundled_prices().s3_standard_storage_cost(
        region="us-east-1", stored_bytes=10 * 1024**3, what="stale parts"
    )
    assert fresh.monthly_usd == 0.23 and "S3 Standard" in fresh.basis


def test_refresh_from_a_table_without_the_new_sections_adds_them() -> None:
    data = bundled_prices().model_dump(mode="json")
    del data["s3"], data["secretsmanager"]
    pricing = boto3.client("pricing", region_name="us-east-1")
    with Stubber(pricing) as stubber:
        stub_price_list(stubber)
        result = refresh_price_table(
            pricing, "eu-west-1", base=PriceTable.model_validate(data), today=date(2026, 11, 28)
        )
    assert result.table.s3 is not None and result.table.s3.standard_gb_month == 0.024
    assert result.table.secretsmanager is not None
