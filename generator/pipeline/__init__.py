"""`reclaim init`: the pipeline (workflows, Terraform for both roles, CODEOWNERS) a repository
needs to run reclaim, rendered from templates/ and written without clobbering user edits."""
