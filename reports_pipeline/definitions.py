"""The code location: one Definitions object, its resources chosen from settings here."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar
from dagster_aws.s3 import S3Resource

from reports_pipeline.assets import (
    EXPORTS,
    REPLICA_TABLES,
    check_replica,
    check_replica_hourly,
    observe_replica,
    replica_freshness,
    replica_invariants,
)
from reports_pipeline.export import export_report
from reports_pipeline.resources import JobTableResource, ReplicaResource, ReportStoreResource
from reports_pipeline.sensors import deliver_webhooks, fire_schedules, reconcile_reports
from reports_pipeline.settings import ServiceSettings


def build_resources(settings: ServiceSettings) -> dict[str, object]:
    s3 = S3Resource(
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        max_attempts=8,
    )
    return {
        "replica": ReplicaResource(
            root=settings.replica.root,
            s3_endpoint_url=settings.s3_endpoint_url,
            slice_rows=settings.slice_rows,
        ),
        "store": ReportStoreResource(
            s3=s3, bucket=settings.s3_bucket, part_size_mib=settings.s3_part_size_mib
        ),
        "job_table": JobTableResource(
            database_url=settings.database_url,
            public_api_url=settings.public_api_url,
            env=settings.env,
            # An EnvVar shows in the Dagster UI by name only, never by value.
            file_password_key=EnvVar("REPORTS_FILE_PASSWORD_KEY")
            if "REPORTS_FILE_PASSWORD_KEY" in os.environ
            else settings.file_password_key,
        ),
    }


def build_definitions(settings: ServiceSettings) -> Definitions:
    freshness_checks, freshness_sensor = replica_freshness(settings.replica_max_age_hours)
    return Definitions(
        jobs=[export_report, check_replica],
        assets=[*REPLICA_TABLES, *EXPORTS],
        asset_checks=[replica_invariants, *freshness_checks],
        sensors=[
            reconcile_reports,
            fire_schedules,
            deliver_webhooks,
            observe_replica,
            freshness_sensor,
        ],
        schedules=[check_replica_hourly],
        resources=build_resources(settings),
    )


defs = build_definitions(ServiceSettings())
