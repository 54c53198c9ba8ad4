#!/usr/bin/env bash
# Browser tests of `polyshm explore`: headless Chromium (Debian's chromium and
# chromium-driver, installed here if absent) loads the page served by the built binary
# and every picture is checked against `polyshm fractal` (crates/polyshm-cli/tests/explore.rs).
# Here the tests must run: POLYSHM_BROWSER_TESTS=required makes a missing Chromium a
# failure (elsewhere such a test prints why and passes untested), for the workspace run
# after this script too. Screenshots of the run: target/tmp/explore/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y --no-install-recommends chromium chromium-driver
fi
export POLYSHM_BROWSER_TESTS=required
# The workspace's features, so that the full test run after this one reuses the build.
cargo test --workspace --features polyshm/failpoints --test explore
echo "browser-tests: screenshots in target/tmp/explore/"
