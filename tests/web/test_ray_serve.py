"""web/ray_serve.py without a cluster: how the running Serve instance's ingress is read, and the
replicas' Serve version."""

import pytest

from verbatim.settings import Settings

ray_serve = pytest.importorskip("web.ray_serve")  # the ray extra (installed by `make test`)

HEAD = "SERVE_PROXY_ACTOR-fb3e"  # a head node id that sorts after "fallback-..."
OTHER = "SERVE_PROXY_ACTOR-2b7e"


def test_haproxy_is_read_whatever_the_head_node_id_is():
    # Behind HAProxy the head also runs a Python fallback proxy; it must not decide.
    for head in (HEAD, "SERVE_PROXY_ACTOR-0a1d"):
        classes = {f"SERVE_PROXY_ACTOR-fallback-{head[-4:]}": "ProxyActor", head: "HAProxyManager"}
        assert ray_serve.ingress_of(classes) == "haproxy"


def test_python_proxies_are_the_proxy_ingress():
    assert ray_serve.ingress_of({HEAD: "ProxyActor", OTHER: "ProxyActor"}) == "proxy"


def test_no_proxy_or_only_the_fallback_is_no_ingress():
    assert ray_serve.ingress_of({}) is None
    assert ray_serve.ingress_of({"SERVE_PROXY_ACTOR-fallback-fb3e": "ProxyActor"}) is None


def test_the_replicas_version_changes_with_settings_and_options_not_with_the_build(tmp_path):
    """A redeploy after an ingest keeps Serve's version (the build is the ``user_config``), so the
    replicas are reconfigured in place; other settings or replica options get new replicas."""
    settings = Settings.from_env(index_dir=tmp_path / "index")
    options = {"num_cpus": 1}
    version = ray_serve.replica_version(settings, options)
    assert ray_serve.replica_version(Settings.from_env(index_dir=tmp_path / "index"), dict(options)) == version
    assert ray_serve.replica_version(settings.replace(max_body_bytes=settings.max_body_bytes + 1), options) != version
    assert ray_serve.replica_version(settings.replace(index_dir=tmp_path / "other"), options) != version
    assert ray_serve.replica_version(settings, {"num_cpus": 2}) != version
