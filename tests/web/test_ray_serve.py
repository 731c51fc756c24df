"""web/ray_serve.py without a cluster: how the running Serve instance's ingress is read."""

import pytest

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
