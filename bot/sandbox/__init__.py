"""The embedded sandbox: local fakes (Slack Web API, AWS via moto) for tests, demo and benchmarks.

Never imported by production paths unless `--sandbox` or `demo` is used.
"""
