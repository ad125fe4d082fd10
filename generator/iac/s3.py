"""Reading a Terraform state object from S3, with a size limit and errors a user can act on."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from generator.errors import ConfigError

MAX_STATE_BYTES = 64 * 1024 * 1024


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    where = f"s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        data: bytes = body.read(MAX_STATE_BYTES + 1)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ConfigError(
            f"cannot read the Terraform state {where}: {code or error}",
            hint="the scan role needs s3:GetObject on that key (run `reclaim init` again to "
            "regenerate its policy) and the bucket policy must allow it",
        ) from None
    except BotoCoreError as error:
        raise ConfigError(f"cannot read the Terraform state {where}: {error}") from None
    if len(data) > MAX_STATE_BYTES:
        raise ConfigError(f"the Terraform state {where} is larger than 64 MiB: refused")
    return data
