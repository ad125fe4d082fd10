"""Infrastructure as code: resources Terraform or CloudFormation manage are changed in their
code, never through the API.

`config` is reclaim.yml's ``iac:`` section; `state` reads Terraform state (local, S3, or
``terraform show -json``); `locate` finds the block that declares a state address in the
``.tf`` files; `managed` says which findings are managed and by what; `edit` changes the code
byte for byte; `change` turns a managed finding into a code change (or a needs-human report);
`plan_check` refuses a saved Terraform plan that does more than the finding's change.
"""
