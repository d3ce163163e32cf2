#!/usr/bin/env bash
# Set up tinygen on a fresh Debian machine: the Arm cross compiler and QEMU (apt, when run
# as root or with sudo), then a virtual environment .venv/ in the repository root with
# tinygen and its pinned Python dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc cmake make"
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null \
    || ! command -v cmake >/dev/null || ! command -v make >/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    echo "setup: installing $apt_packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $apt_packages >/dev/null
fi

python3 -m venv .venv
echo "setup: installing tinygen and its Python dependencies into .venv/ (about a minute)" >&2
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[tf,test]"
# tf-keras declares tensorflow<2.22, which would pull the full `tensorflow` wheel beside
# tensorflow-cpu; both packages work with tensorflow-cpu, so install them without deps.
.venv/bin/pip install -q --no-deps "tf-keras==2.21.0" "tensorflow-model-optimization==0.8.1"
echo "setup: done; run .venv/bin/tinygen --help" >&2
