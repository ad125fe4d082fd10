"""A local GitHub stand-in for tests: the REST endpoints reclaim's forge uses, backed by a
real git repository, every request and response checked against GitHub's OpenAPI
description. Test code only; never shipped."""
