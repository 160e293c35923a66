# Two entry points on a fresh Debian machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test lint typecheck unit bench install system-deps screenshots clean

# Two stamps: the demo needs the application only; the tests add their tools.
$(VENV)/.installed-app: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-app
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages the tests use: Chromium for the browser tests, ffmpeg for ffprobe,
# and for the WHIP interop test with GStreamer (tests/test_interop_gstreamer.py):
# webrtcbin, x264enc (plugins-ugly) for its H.264 publisher, python3-gi for /usr/bin/python3,
# iproute2 (FFmpeg's WHIP muxer comes with PyAV);
# and a test IP camera for the agent's tests (tests/interop/rtsp_server.py): gst-rtsp-server,
# x264enc (plugins-ugly), avenc_aac (libav), the RTSP plugins; Chinese and Latin fonts
# for the evidence copy's burned-in text (recorder/evidence_copy.py; without them it
# falls back to ASCII); redis-server for the cluster tests that stop and restart a Redis of
# their own (tests/test_cluster.py, tests/test_cluster_bus.py); nginx and coturn to run
# deploy/nginx/vdispatch.conf and deploy/coturn/turnserver.conf (tests/test_deploy_nginx.py,
# test_deploy_turn.py run their own processes; the system's services are not used);
# pg_dump and pg_restore for the backup and restore drill (tests/test_restore_drill.py).
# Only installed when missing, and only when we are root (CI is).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v pg_dump >/dev/null || missing="$$missing postgresql-client"; \
	for deb in gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	    gstreamer1.0-plugins-bad gstreamer1.0-nice python3-gi gir1.2-gstreamer-1.0 \
	    gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 \
	    gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	    fonts-wqy-microhei fonts-dejavu-core nginx coturn; do \
	  dpkg-query -W -f='$${Status}' $$deb 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$deb"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; fi; \
	fi

demo: $(VENV)/.installed-app
	$(VENV)/bin/vdispatch demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q

test: install system-deps lint typecheck
	$(VENV)/bin/pytest -q -rs

# PNGs of the console under docs/screenshots/ (real node, real recordings, Chromium).
screenshots: install system-deps
	$(PY) -m tests.screenshots --out docs/screenshots

bench: install
	$(PY) bench/relay.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
