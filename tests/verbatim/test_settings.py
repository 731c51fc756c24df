"""Process settings: validation at start-up, the README's table, and the malloc arena cap that keeps
the server's memory flat under load."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from verbatim.settings import Settings, SettingsError, settings_table

REPO = Path(__file__).resolve().parents[2]

# Eight threads, alive at once, each allocate (bytes beyond pymalloc's small-object limit go to
# glibc malloc), then glibc reports its heaps: one `<heap nr=...>` per arena.
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    sys.path.insert(0, {repo!r})
    from verbatim.settings import limit_malloc_arenas
    if {cap}:
        assert limit_malloc_arenas()
    keep = []
    together = threading.Barrier(8)
    def allocate():
        together.wait()  # all alive at once, so no thread inherits an arena another one freed
        keep.append([bytes(4096) for _ in range(200)])
        together.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    path = tempfile.mktemp()
    handle = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(handle))
    libc.fclose(ctypes.c_void_p(handle))
    print(open(path).read().count("<heap nr="))
    """
)


def _arenas(cap: bool) -> int:
    script = COUNT_ARENAS.format(repo=str(REPO), cap=cap)
    return int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_arena_cap_bounds_the_heaps_threads_create():
    assert _arenas(cap=False) > 2  # without the cap, the threads spread over more arenas
    assert _arenas(cap=True) <= 2


# -- validation at start-up ----------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No VERBATIM_* variable and no .env file (the working folder is empty)."""
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("VERBATIM_PORT", "abc", "valid integer"),
        ("VERBATIM_PORT", "99999", "less than or equal to 65535"),
        ("VERBATIM_PORT", "0", "greater than or equal to 1"),
        ("VERBATIM_MAX_BODY_BYTES", "-1", "greater than or equal to 1"),
        ("VERBATIM_RATE_LIMIT", "-5", "greater than or equal to 0"),
        ("VERBATIM_MAX_FILE_MB", "0", "greater than 0"),
        ("VERBATIM_LOG_FORMAT", "xml", "'auto', 'json' or 'text'"),
        ("VERBATIM_METRICS", "perhaps", "valid boolean"),
        ("VERBATIM_FORWARDED_ALLOW_IPS", "127.0.0.1, proxy.local", "not an IP address or network"),
        ("VERBATIM_CORS_ORIGINS", "clinic.example", "not an origin"),
    ],
)
def test_a_bad_value_is_one_line_naming_variable_value_and_what_is_allowed(clean_env, variable, value, allowed):
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    message = str(raised.value)
    assert "\n" not in message
    assert f"{variable}={value!r}" in message and allowed in message


def test_unknown_overrides_are_a_programming_error(clean_env):
    with pytest.raises(TypeError, match="unknown settings: prot"):
        Settings.from_env(prot=8000)


def test_flags_are_validated_too(clean_env):
    with pytest.raises(SettingsError, match=r"port=99999: .*65535"):
        Settings.from_env(port=99999)


def test_the_command_stops_with_that_line(clean_env):
    clean_env.setenv("VERBATIM_PORT", "abc")
    done = subprocess.run(
        [sys.executable, "-m", "verbatim", "serve"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid setting: VERBATIM_PORT='abc': Input should be a valid integer, unable to parse string as an integer"
    ]


def test_metrics_beyond_loopback_need_a_token(clean_env):
    clean_env.setenv("VERBATIM_METRICS", "true")
    clean_env.setenv("VERBATIM_HOST", "0.0.0.0")
    with pytest.raises(SettingsError, match="need VERBATIM_METRICS_TOKEN"):
        Settings.from_env()
    clean_env.setenv("VERBATIM_METRICS_TOKEN", "t")
    assert Settings.from_env().metrics


def test_values_from_env_file_and_lists(clean_env, tmp_path):
    clean_env.setitem(Settings.model_config, "env_file", ".env")  # tests/conftest.py turns it off
    (tmp_path / ".env").write_text("VERBATIM_PORT=9001\nVERBATIM_FORWARDED_ALLOW_IPS=127.0.0.1, 10.0.0.0/8\n")
    clean_env.setenv("VERBATIM_RATE_LIMIT", "30")
    settings = Settings.from_env(index_dir="elsewhere")
    assert settings.port == 9001 and settings.rate_limit_per_minute == 30
    assert settings.forwarded_allow_ips == ("127.0.0.1", "10.0.0.0/8")
    assert settings.index_dir == Path("elsewhere")
    clean_env.setenv("VERBATIM_PORT", "9002")  # the environment wins over .env
    assert Settings.from_env().port == 9002


def test_defaults_are_safe(clean_env):
    settings = Settings.from_env()
    assert settings.host == "127.0.0.1"
    assert settings.forwarded_allow_ips == () and settings.cors_origins == ()
    assert not settings.metrics and not settings.log_questions
    assert settings.admin_token is None and settings.rate_limit_per_minute == 0


def test_replace_validates_and_keeps_the_rest(clean_env):
    settings = Settings.from_env(port=9000, max_file_bytes=512 * 1024)
    changed = settings.replace(index_dir=Path("other"))
    assert (changed.port, changed.max_file_bytes, changed.index_dir) == (9000, 512 * 1024, Path("other"))
    with pytest.raises(SettingsError):
        settings.replace(port=-1)


def test_the_readme_table_is_the_settings_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README's configuration table differs: paste `python -m verbatim.settings`"
