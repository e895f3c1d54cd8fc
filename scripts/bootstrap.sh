#!/usr/bin/env bash
# Set up nav-stack on a fresh machine: system library, virtual environment, the project and its
# ROS 2 wheels. Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what
# is already done). NAV_VENV overrides the venv location (default: .venv in the repo).
set -euo pipefail

NAV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAV_VENV="${NAV_VENV:-$NAV_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

die() { echo "nav set-up: $*" >&2; exit 1; }
say() { echo "nav set-up: $*" >&2; }

command -v "$PYTHON" >/dev/null || die "no $PYTHON found: install Python 3.10 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "Python 3.10 or newer is needed, found $("$PYTHON" --version 2>&1)"

# open3d loads libusb-1.0 at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's libusb-1.0-0 (needed by open3d)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0) >/dev/null \
      || die "apt-get could not install libusb-1.0-0; install it by hand and run again"
  else
    die "libusb-1.0 is missing (open3d needs it): run 'sudo apt-get install libusb-1.0-0' and run again"
  fi
fi

if [ ! -x "$NAV_VENV/bin/python" ]; then
  say "creating the virtual environment $NAV_VENV"
  "$PYTHON" -m venv "$NAV_VENV" || die "could not create a venv (on Debian: apt-get install python3-venv)"
fi
VPY="$NAV_VENV/bin/python"

# Reinstall only when the dependency list changed.
stamp="$NAV_VENV/.nav-installed"
want="$(cat "$NAV_ROOT/pyproject.toml" "$NAV_ROOT/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the project and its dependencies into $NAV_VENV (first run takes a few minutes)"
  "$VPY" -m pip install -q --upgrade pip >/dev/null
  # A torch/torchvision pair that imports together (torchvision's operators must match torch).
  case "$(uname -m)" in
    x86_64) torch_pair="torch==2.14.1 torchvision==0.29.1" ;;
    aarch64|arm64) torch_pair="torch==2.9.1 torchvision==0.24.1" ;;
    *) die "unsupported machine $(uname -m): install torch and torchvision by hand" ;;
  esac
  # shellcheck disable=SC2086
  "$VPY" -m pip install -q $torch_pair || die "pip could not install $torch_pair"
  "$VPY" -m pip install -q -e "$NAV_ROOT[dev]" || die "pip could not install the project (see the error above)"
  "$VPY" -c 'import rclpy, pybullet, gymnasium, torch, torchvision, open3d, cv2' \
    || die "the environment installed but an import fails (see above)"
  echo "$want" > "$stamp"
fi

export PATH="$NAV_VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
