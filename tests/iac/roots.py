"""A Terraform root with every shape reclaim must locate and edit: plain blocks, count,
for_each over a literal map and a literal set, a local module, and comments and heredocs
around the blocks (one heredoc even holds text that looks like a resource block)."""

from __future__ import annotations

from pathlib import Path

MAIN_TF = """\
# Storage for the batch jobs.
locals {
  note = <<-EOT
    resource "aws_ebs_volume" "scratch" {
      size = 999
    }
  EOT
}

/* The scratch disk.
   Nobody remembers why it is gp2. */
resource "aws_ebs_volume" "scratch" {
  availability_zone = "us-east-1a"
  size              = 1
  type              = "gp2" # cheap for now

  tags = {
    Name = "scratch"
  }
}

# keep this one
resource "aws_ebs_volume" "keep" {
  availability_zone = "us-east-1a"
  size    = 2
}

resource "aws_ebs_volume" "pool" {
  count             = 2
  availability_zone = "us-east-1a"
  size              = 1
}

resource "aws_ebs_volume" "by_team" {
  for_each = {
    red  = 1 # the red team's
    blue = 2
  }
  availability_zone = "us-east-1a"
  size              = each.value
}

resource "aws_eip" "spare" {
  domain = "vpc"
}

module "disks" {
  source = "./modules/disks"
}
"""

MODULE_TF = """\
variable "zone" {
  default = "us-east-1a"
}

resource "aws_ebs_volume" "this" {
  for_each          = toset(["a", "b"]) # one per shard
  availability_zone = var.zone
  size              = 1
}
"""

PROVIDER_TF = """\
provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
  endpoints {
    ec2 = "{url}"
    sts = "{url}"
    iam = "{url}"
  }
}
"""


def write_root(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(MAIN_TF)
    module = directory / "modules" / "disks"
    module.mkdir(parents=True, exist_ok=True)
    (module / "main.tf").write_text(MODULE_TF)
    return directory


def write_provider(directory: Path, url: str) -> None:
    (directory / "provider.tf").write_text(PROVIDER_TF.replace("{url}", url))
