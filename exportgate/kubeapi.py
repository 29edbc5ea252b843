"""How every exportgate program gets its Kubernetes API client: one rule, one place.

A kubeconfig file when one is given (`--kubeconfig`, with an optional context), else the pod's
service account (in-cluster), else `$KUBECONFIG` / `~/.kube/config`. Each call returns a new
`ApiClient` with its own configuration: nothing is written to the client library's global
default, so two programs (or a program and its tests) in one process cannot disturb each other.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config


def new_api_client(
    kubeconfig: str | Path | None = None, context: str | None = None
) -> client.ApiClient:
    """An ApiClient per the rule above; the client library's errors propagate."""
    if kubeconfig is not None:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context=context
        )
        return api
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    except config.ConfigException:
        default: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            context=context
        )
        return default
