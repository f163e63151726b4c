#!/usr/bin/env bash
# System packages the project needs, installed only when missing (Debian's apt):
#   bubblewrap — the sandbox of compute-to-data and federated learning (agora.workloads.sandbox).
# Needs root (or passwordless sudo) only when something is missing; otherwise it changes nothing.
# Then checks that bubblewrap can make the user namespace the sandbox needs, and says so if not.
set -euo pipefail

check_sandbox() {
    command -v bwrap >/dev/null 2>&1 || return 0
    local links=()
    for top in bin lib lib64; do
        if [ -L "/$top" ]; then links+=(--symlink "$(readlink "/$top")" "/$top"); fi
    done
    if ! bwrap --unshare-all --unshare-user --uid 65534 --gid 65534 --cap-drop ALL --die-with-parent \
        --ro-bind /usr /usr "${links[@]}" --proc /proc --dev /dev /usr/bin/true >/dev/null 2>&1; then
        echo "setup: bubblewrap cannot create a user namespace here (see user.max_user_namespaces);" \
            "compute-to-data will refuse to run" >&2
    fi
}

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)

if [ ${#missing[@]} -eq 0 ]; then
    check_sandbox
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "setup: missing system packages: ${missing[*]} (install them with apt-get as root; compute-to-data refuses to run without a sandbox)" >&2
    exit 0
fi
echo "setup: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    "${SUDO[@]}" apt-get update -qq >/dev/null
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
check_sandbox
