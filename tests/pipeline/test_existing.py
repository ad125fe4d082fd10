"""Reading the repository's own Terraform before generating any."""

from __future__ import annotations

from pathlib import Path

from generator.pipeline.existing import read_existing

ROLES = {"reclaim-service": "service role", "reclaim-remediation": "remediation role"}
MODULES = ("terraform/service-role", "terraform/customer-role")


def scan(root: Path, generated: set[str] | None = None):  # type: ignore[no-untyped-def]
    return read_existing(
        root, role_names=ROLES, own_module_dirs=MODULES, generated=generated or set()
    )


def test_an_existing_github_oidc_provider_is_found(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra/oidc.tf").write_text(
        'resource "aws_iam_openid_connect_provider" "gha" {\n'
        '  url            = "https://token.actions.githubusercontent.com"\n'
        '  client_id_list = ["sts.amazonaws.com"]\n}\n'
        'resource "aws_iam_openid_connect_provider" "other" {\n'
        '  url = "https://gitlab.example.com"\n}\n'
    )
    found = scan(tmp_path)
    assert found.oidc_provider == "infra/oidc.tf (aws_iam_openid_connect_provider.gha)"
    assert found.collisions == []


def test_no_provider_no_collisions_in_an_unrelated_repository(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n')
    found = scan(tmp_path)
    assert found.oidc_provider is None and found.collisions == [] and found.unreadable == []


def test_role_name_and_module_directory_collisions_are_reported(tmp_path: Path) -> None:
    (tmp_path / "iam.tf").write_text(
        'resource "aws_iam_role" "old" {\n  name = "reclaim-service"\n'
        '  assume_role_policy = "{}"\n}\n'
    )
    (tmp_path / "terraform/customer-role").mkdir(parents=True)
    (tmp_path / "terraform/customer-role/extra.tf").write_text('variable "x" {}\n')
    (tmp_path / "terraform/customer-role/main.tf").write_text('variable "y" {}\n')
    found = scan(tmp_path, generated={"terraform/customer-role/main.tf"})
    described = {(c.path, c.what.split(";")[0]) for c in found.collisions}
    assert (
        "iam.tf",
        "aws_iam_role.old is also named 'reclaim-service', the name of reclaim's service role",
    ) in described
    assert any(path == "terraform/customer-role/extra.tf" for path, _ in described)
    assert not any(path == "terraform/customer-role/main.tf" for path, _ in described)


def test_terraform_that_does_not_parse_is_named_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('resource "aws_iam_role" {{{\n')
    found = scan(tmp_path)
    assert [u.split(":")[0] for u in found.unreadable] == ["broken.tf"]
