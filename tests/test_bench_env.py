"""`make bench` measures gunicorn as the image runs it: the Dockerfile's allocator and interpreter settings
for a worker's memory are read from the Dockerfile, so a change there is what the next run measures."""

from __future__ import annotations

import re

from django.conf import settings

from tests.helpers import bench_run_module


def test_the_benchmark_runs_gunicorn_with_the_images_memory_settings():
    bench = bench_run_module()

    env = bench.bench_env()

    assert env["MALLOC_ARENA_MAX"] == "2"
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0"
    assert env["PYTHONNODEBUGRANGES"] == "1"
    assert env["PYTHONOPTIMIZE"] == "2"


def test_a_setting_changed_in_the_dockerfile_is_what_the_benchmark_uses(tmp_path):
    bench = bench_run_module()
    dockerfile = (settings.BASE_DIR / "Dockerfile").read_text()
    (tmp_path / "Dockerfile").write_text(re.sub(r"MALLOC_ARENA_MAX=\d+", "MALLOC_ARENA_MAX=1", dockerfile))
    bench.ROOT = tmp_path

    assert bench.image_memory_settings()["MALLOC_ARENA_MAX"] == "1"
