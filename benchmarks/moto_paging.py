"""DescribeVolumes in pages, as AWS answers it: moto returns every volume in one answer
whatever MaxResults says, so a listing of 16,000 volumes is one 16,000-volume page there
and nothing a tool does page by page can be seen. With this patch moto honours
MaxResults (AWS's bounds: 5-500, no MaxResults: everything, as AWS does) and answers a
NextToken, the ID of the last volume of the page before (moto's own way for
DescribeInstances)."""

from __future__ import annotations

from typing import Any


def paginate_describe_volumes() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    original = ElasticBlockStore.describe_volumes

    def describe_volumes(self: Any) -> Any:
        max_results = self._get_param("MaxResults")
        if max_results is None or self._get_param("VolumeIds", []):
            return original(self)  # AWS: no MaxResults together with VolumeIds
        volumes = self.ec2_backend.describe_volumes(
            volume_ids=[], filters=self._filters_from_querystring()
        )
        ids = [volume.id for volume in volumes]
        token = self._get_param("NextToken")
        start = ids.index(token) + 1 if token in ids else 0
        page = volumes[start : start + int(max_results)]
        result: dict[str, Any] = {"Volumes": page}
        if start + len(page) < len(volumes):
            result["NextToken"] = page[-1].id
        return ActionResult(result)

    ElasticBlockStore.describe_volumes = describe_volumes  # type: ignore[method-assign]
