"""extended-support: databases and Kubernetes clusters on a version past its end of standard
support, paying AWS's extended-support surcharge. Report-only: the fix is an upgrade.

Every date comes from AWS, never from a table here: RDS's DescribeDBMajorEngineVersions
gives each major version's lifecycles (``open-source-rds-extended-support`` with its start
and end), DescribeDBEngineVersions the major version of an instance's exact version, and
EKS's DescribeClusterVersions each Kubernetes version's end of standard and of extended
support. What is charged comes from the price table: RDS per vCPU-hour (a higher rate from
the third year on; a Multi-AZ standby pays too; vCPUs of the matching EC2 type, from
DescribeInstanceTypes), EKS per cluster-hour above the standard rate.

A cluster whose upgrade policy is STANDARD is upgraded by AWS at the end of standard support
and never pays; an RDS instance created with extended support disabled cannot run past it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.aws.listings import Listing
from generator.aws.tags import tags_from_api
from generator.findings import Cost, Evidence, Finding, Reversibility, SkippedResource
from generator.iam.scopes import DB_INSTANCE, EKS_CLUSTER, only
from generator.rules.base import Rule, RuleCalls, RuleDocs, RuleSettings
from generator.rules.context import ScanContext
from generator.rules.rds_instance import DB_INSTANCES

RDS_EXTENDED = "open-source-rds-extended-support"
RDS_EXTENDED_DISABLED = "open-source-rds-extended-support-disabled"
ENGINES_WITH_EXTENDED_SUPPORT = ("mysql", "postgres", "aurora-mysql", "aurora-postgresql")
EKS_STANDARD_POLICY = "STANDARD"
YEAR_3_AFTER_YEARS = 2


class ExtendedSupportSettings(RuleSettings):
    warn_days_before: int = Field(
        default=90,
        ge=0,
        le=730,
        description="Name, among the resources left alone, those entering paid extended "
        "support within this many days (so the upgrade can land first).",
    )


class DbInstance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str
    engine: str
    engine_version: str
    major_version: str
    instance_class: str
    multi_az: bool
    cluster: str | None = None
    vcpus: int | None = Field(description="Of the EC2 type matching the class; None if unknown.")
    extended_support_start: datetime
    extended_support_end: datetime | None = None


class EksCluster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    support_type: str
    end_of_standard_support: datetime
    end_of_extended_support: datetime | None = None


class ExtendedSupportRecord(BaseModel):
    """One resource paying the surcharge: an RDS instance or an EKS cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arn: str
    database: DbInstance | None = None
    cluster: EksCluster | None = None
    tags: dict[str, str] = {}
    skip_tag: str

    @model_validator(mode="after")
    def _one_resource(self) -> ExtendedSupportRecord:
        if (self.database is None) == (self.cluster is None):
            raise ValueError("a record is of one database or one cluster")
        return self


class ExtendedSupport(Rule[ExtendedSupportSettings, ExtendedSupportRecord]):
    name: ClassVar[str] = "extended-support"
    summary: ClassVar[str] = "RDS and EKS versions in paid extended support"
    resource_type: ClassVar[str] = "AWS::RDS::DBInstance"
    reversibility: ClassVar[Reversibility] = "report-only"
    docs: ClassVar[RuleDocs] = RuleDocs(
        finds=(
            "RDS for MySQL/PostgreSQL and Aurora instances whose major version is in RDS "
            "Extended Support (DescribeDBMajorEngineVersions), priced per vCPU-hour (year 3 "
            "rate from the third year); EKS clusters past their version's end of standard "
            "support with the EXTENDED upgrade policy, priced per cluster-hour. Report-only: "
            "the fix is an upgrade"
        ),
    )
    settings_model = ExtendedSupportSettings
    record_model = ExtendedSupportRecord
    listings: ClassVar[tuple[Listing, ...]] = (DB_INSTANCES,)
    calls: ClassVar[RuleCalls] = RuleCalls(
        scan=frozenset(
            {
                ("rds", "DescribeDBInstances"),
                ("rds", "DescribeDBEngineVersions"),
                ("rds", "DescribeDBMajorEngineVersions"),
                ("ec2", "DescribeInstanceTypes"),
                ("eks", "ListClusters"),
                ("eks", "DescribeCluster"),
                ("eks", "DescribeClusterVersions"),
            }
        ),
        apply=frozenset(),
        rollback=frozenset(),
        scopes={
            "rds:DescribeDBInstances": only(DB_INSTANCE, why="DB instances only"),
            "eks:DescribeCluster": only(EKS_CLUSTER, why="EKS clusters only"),
        },
    )

    def scan(
        self, ctx: ScanContext, settings: ExtendedSupportSettings
    ) -> Iterator[Finding | SkippedResource]:
        yield from self._databases(ctx, settings)
        yield from self._clusters(ctx, settings)

    # ---- RDS -------------------------------------------------------------------------

    def _databases(
        self, ctx: ScanContext, settings: ExtendedSupportSettings
    ) -> Iterator[Finding | SkippedResource]:
        rds = ctx.client("rds")
        versions = _MajorVersions(rds)
        vcpus = _VcpuCounts(ctx)
        horizon = ctx.as_of + timedelta(days=settings.warn_days_before)
        for page in ctx.listing(DB_INSTANCES):  # the listing rds-idle reads too
            for item in page.get("DBInstances", []):
                engine = item.get("Engine", "")
                if engine not in ENGINES_WITH_EXTENDED_SUPPORT:
                    continue
                identifier = item["DBInstanceIdentifier"]
                major = versions.major(engine, item.get("EngineVersion", ""))
                window = versions.extended_window(engine, major) if major else None
                if window is None:
                    continue  # no extended support for this version: nothing to pay
                start, end = window
                if ctx.as_of < start:
                    if start <= horizon:
                        yield self.skipped(
                            ctx,
                            identifier,
                            f"{engine} {major} enters paid RDS Extended Support on "
                            f"{start:%Y-%m-%d}: upgrade before then",
                        )
                    continue
                if end is not None and ctx.as_of >= end:
                    continue  # past extended support too: AWS upgrades it
                if item.get("EngineLifecycleSupport") == RDS_EXTENDED_DISABLED:
                    yield self.skipped(
                        ctx, identifier, "extended support disabled: AWS upgrades it instead"
                    )
                    continue
                instance_class = item.get("DBInstanceClass", "")
                database = DbInstance(
                    identifier=identifier,
                    engine=engine,
                    engine_version=item.get("EngineVersion", ""),
                    major_version=major or "",
                    instance_class=instance_class,
                    multi_az=bool(item.get("MultiAZ")),
                    cluster=item.get("DBClusterIdentifier"),
                    vcpus=vcpus.of(instance_class),
                    extended_support_start=start,
                    extended_support_end=end,
                )
                record = ExtendedSupportRecord(
                    arn=item.get("DBInstanceArn") or identifier,
                    database=database,
                    tags=tags_from_api(item.get("TagList")),
                    skip_tag=ctx.exclusions.skip_tag,
                )
                yield self._database_finding(ctx, record, database)

    def _database_finding(
        self, ctx: ScanContext, record: ExtendedSupportRecord, database: DbInstance
    ) -> Finding:
        prices = ctx.prices.extended_support
        year_3 = _add_years(database.extended_support_start, YEAR_3_AFTER_YEARS)
        in_year_3 = ctx.as_of >= year_3
        rate = prices.rds_vcpu_hourly_year_3 if in_year_3 else prices.rds_vcpu_hourly_years_1_2
        band = "year 3" if in_year_3 else "years 1-2"
        hours = ctx.prices.ec2.hours_per_month
        cost: Cost
        if database.instance_class == "db.serverless":
            cost = ctx.prices.unknown(
                "Aurora Serverless v2 pays extended support per ACU-hour, which the bundled "
                "table does not price; surcharge unknown"
            )
        elif database.vcpus is None:
            cost = ctx.prices.unknown(
                f"vCPUs of {database.instance_class} unknown (no matching EC2 type); "
                "surcharge unknown"
            )
        else:
            copies = 2 if database.multi_az else 1
            basis = (
                f"{database.vcpus} vCPU x ${rate}/vCPU-hour ({band} of RDS Extended Support) "
                f"x {hours} h"
                + (" x 2 (the Multi-AZ standby is charged too)" if database.multi_az else "")
                + f"; vCPUs of {database.instance_class.removeprefix('db.')} "
                "(DescribeInstanceTypes); on top of the instance's own price"
            )
            cost = ctx.prices.cost(database.vcpus * rate * hours * copies, ctx.region, basis)
        evidence = [
            Evidence(
                label="Engine",
                value=f"{database.engine} {database.engine_version} "
                f"(major {database.major_version})",
                source="DescribeDBInstances, DescribeDBEngineVersions",
            ),
            Evidence(
                label="RDS Extended Support",
                value=f"since {database.extended_support_start:%Y-%m-%d}"
                + (
                    f", ends {database.extended_support_end:%Y-%m-%d}"
                    if database.extended_support_end
                    else ""
                ),
                source="DescribeDBMajorEngineVersions (SupportedEngineLifecycles)",
            ),
            Evidence(
                label="Instance class", value=database.instance_class, source="DescribeDBInstances"
            ),
        ]
        risk_reasons = ["a major-version upgrade needs testing and a maintenance window"]
        if not in_year_3:
            risk_reasons.append(f"the rate doubles on {year_3:%Y-%m-%d} (year 3)")
        if database.extended_support_end:
            risk_reasons.append(
                f"AWS upgrades it itself after {database.extended_support_end:%Y-%m-%d}"
            )
        where = f" (cluster {database.cluster})" if database.cluster else ""
        return self.new_finding(
            ctx,
            title=(
                f"Upgrade RDS instance {database.identifier}{where} from {database.engine} "
                f"{database.major_version}, in paid extended support"
            ),
            cost=cost,
            risk="medium",
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
        )

    # ---- EKS -------------------------------------------------------------------------

    def _clusters(
        self, ctx: ScanContext, settings: ExtendedSupportSettings
    ) -> Iterator[Finding | SkippedResource]:
        eks = ctx.client("eks")
        names = [
            name
            for page in eks.get_paginator("list_clusters").paginate()
            for name in page.get("clusters", [])
        ]
        if not names:
            return
        lifecycle: dict[str, dict[str, Any]] = {}
        for page in eks.get_paginator("describe_cluster_versions").paginate(includeAll=True):
            for version in page.get("clusterVersions", []):
                lifecycle.setdefault(version["clusterVersion"], version)
        horizon = ctx.as_of + timedelta(days=settings.warn_days_before)
        for name in names:
            cluster = eks.describe_cluster(name=name)["cluster"]
            version = cluster.get("version", "")
            dates = lifecycle.get(version) or {}
            standard_end = dates.get("endOfStandardSupportDate")
            support_type = (cluster.get("upgradePolicy") or {}).get("supportType", "EXTENDED")
            if standard_end is None:
                continue  # AWS gives no date: nothing to say
            if ctx.as_of < standard_end:
                if standard_end <= horizon and support_type != EKS_STANDARD_POLICY:
                    yield self.skipped(
                        ctx,
                        name,
                        f"Kubernetes {version} enters paid extended support on "
                        f"{standard_end:%Y-%m-%d}: upgrade before then",
                    )
                continue
            if support_type == EKS_STANDARD_POLICY:
                yield self.skipped(
                    ctx,
                    name,
                    "upgrade policy STANDARD: AWS upgrades it instead of charging extended support",
                )
                continue
            record = ExtendedSupportRecord(
                arn=cluster.get("arn") or name,
                cluster=EksCluster(
                    name=name,
                    version=version,
                    support_type=support_type,
                    end_of_standard_support=standard_end,
                    end_of_extended_support=dates.get("endOfExtendedSupportDate"),
                ),
                tags=dict(sorted((cluster.get("tags") or {}).items())),
                skip_tag=ctx.exclusions.skip_tag,
            )
            yield self._cluster_finding(ctx, record)

    def _cluster_finding(self, ctx: ScanContext, record: ExtendedSupportRecord) -> Finding:
        cluster = record.cluster
        assert cluster is not None
        prices = ctx.prices.extended_support
        hours = ctx.prices.ec2.hours_per_month
        surcharge = prices.eks_surcharge_hourly
        cost = ctx.prices.cost(
            surcharge * hours,
            ctx.region,
            f"(${prices.eks_cluster_hourly_extended}/h extended - "
            f"${prices.eks_cluster_hourly_standard}/h standard) x {hours} h per cluster",
        )
        ends = cluster.end_of_extended_support
        evidence = [
            Evidence(label="Kubernetes version", value=cluster.version, source="DescribeCluster"),
            Evidence(
                label="Standard support ended",
                value=f"{cluster.end_of_standard_support:%Y-%m-%d}"
                + (f"; extended support ends {ends:%Y-%m-%d}" if ends else ""),
                source="DescribeClusterVersions",
            ),
            Evidence(label="Upgrade policy", value=cluster.support_type, source="DescribeCluster"),
        ]
        risk_reasons = [
            "a Kubernetes upgrade goes one minor version at a time; check deprecated APIs and "
            "add-ons first"
        ]
        if ends:
            risk_reasons.append(f"AWS upgrades it itself after {ends:%Y-%m-%d}")
        return self.new_finding(
            ctx,
            title=(
                f"Upgrade EKS cluster {cluster.name} from Kubernetes {cluster.version}, in paid "
                "extended support"
            ),
            cost=cost,
            risk="medium",
            risk_reasons=risk_reasons,
            evidence=evidence,
            record=record,
            resource_type="AWS::EKS::Cluster",
        )

    # ---- names -----------------------------------------------------------------------

    def resource_of(self, record: ExtendedSupportRecord) -> str:
        return record.arn

    def id_part(self, resource_id: str) -> str:
        """``rds-db-<identifier>`` or ``eks-cluster-<name>``: the ARN's service and resource,
        which keep a database and a cluster of the same name apart."""
        parts = resource_id.split(":", 5)
        if len(parts) < 6:
            return resource_id
        service, resource = parts[2], parts[5]
        return f"{service}-{resource.replace(':', '-').replace('/', '-')}"

    def tags_of(self, record: ExtendedSupportRecord) -> Mapping[str, str]:
        return record.tags


class _MajorVersions:
    """An engine version's major version and that major version's extended-support window,
    each asked of RDS once per scan."""

    def __init__(self, rds: Any) -> None:
        self.rds = rds
        self._majors: dict[tuple[str, str], str | None] = {}
        self._windows: dict[tuple[str, str], tuple[datetime, datetime | None] | None] = {}

    def major(self, engine: str, version: str) -> str | None:
        key = (engine, version)
        if key not in self._majors:
            found = None
            pages = self.rds.get_paginator("describe_db_engine_versions").paginate(
                Engine=engine, EngineVersion=version, IncludeAll=True
            )
            for page in pages:
                for item in page.get("DBEngineVersions", []):
                    found = found or item.get("MajorEngineVersion")
            self._majors[key] = found
        return self._majors[key]

    def extended_window(self, engine: str, major: str) -> tuple[datetime, datetime | None] | None:
        key = (engine, major)
        if key not in self._windows:
            window = None
            pages = self.rds.get_paginator("describe_db_major_engine_versions").paginate(
                Engine=engine, MajorEngineVersion=major
            )
            for page in pages:
                for item in page.get("DBMajorEngineVersions", []):
                    for lifecycle in item.get("SupportedEngineLifecycles", []):
                        start = lifecycle.get("LifecycleSupportStartDate")
                        if lifecycle.get("LifecycleSupportName") == RDS_EXTENDED and start:
                            window = (start, lifecycle.get("LifecycleSupportEndDate"))
            self._windows[key] = window
        return self._windows[key]


class _VcpuCounts:
    """vCPUs of a DB instance class: those of the EC2 type it is named after (db.m5.large →
    m5.large), asked once per class; None when EC2 knows no such type."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self._counts: dict[str, int | None] = {}

    def of(self, instance_class: str) -> int | None:
        if instance_class not in self._counts:
            self._counts[instance_class] = self._ask(instance_class.removeprefix("db."))
        return self._counts[instance_class]

    def _ask(self, instance_type: str) -> int | None:
        if instance_type == "serverless":
            return None
        # a filter: a class EC2 has no type for (db.r5.large.tpc2.mem4x) answers empty
        answer = self.ctx.client("ec2").describe_instance_types(
            Filters=[{"Name": "instance-type", "Values": [instance_type]}]
        )
        for item in answer.get("InstanceTypes", []):
            count = (item.get("VCpuInfo") or {}).get("DefaultVCpus")
            if count:
                return int(count)
        return None


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)
