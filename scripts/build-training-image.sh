#!/usr/bin/env bash
# Builds the PyTorch training image the examples run in, locally and with no registry: a Debian bookworm
# rootfs made by debootstrap, with python3-torch, python3-sklearn, python3-onnx, python3-numpy and
# python3-requests installed by apt inside it, imported with `docker import` as
# trellis-examples/pytorch:bookworm on the engine DOCKER_HOST names (the Docker CLI's default otherwise).
#
# Idempotent and cached:
# - the recipe is this file: its hash is the image's `trellis.recipe` label, and an image with the same
#   label is left as it is (nothing to do, about a second);
# - the rootfs tarball is kept in $TRELLIS_CACHE/images (default ~/.cache/trellis), named by the same
#   hash, so a new engine on the same machine (a fresh CI run) only re-imports it (about 30 s);
# - a cold build takes about 2.5 minutes (debootstrap ~30 s, apt ~95 s, tar + import ~30 s).
# Environment: TRELLIS_DEBIAN_MIRROR overrides the Debian mirror (default: the one the host's apt uses).
# Needs root (debootstrap, chroot, mount), debootstrap, and the Docker CLI (Debian's docker.io).
set -euo pipefail

IMAGE="trellis-examples/pytorch:bookworm"
SUITE="bookworm"
PACKAGES=(python3 python3-torch python3-sklearn python3-onnx python3-numpy python3-requests)
# PYTHONUNBUFFERED: a job's log lines reach `trellis run` as they are printed, not when a buffer fills.
IMAGE_ENV=(
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "LANG=C.UTF-8"
  "PYTHONUNBUFFERED=1"
  "PYTHONDONTWRITEBYTECODE=1"
)

log() { echo "build-training-image: $*"; }
fail() { echo "build-training-image: error: $*" >&2; exit 1; }

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"
RECIPE="$(sha256sum "$SCRIPT_PATH" | cut -c1-16)"
CACHE_DIR="${TRELLIS_CACHE:-${HOME:-/root}/.cache/trellis}/images"
TARBALL="$CACHE_DIR/pytorch-$SUITE-$RECIPE.tar"

# Debian's CLI (docker.io) rather than whatever `docker` is first on PATH.
DOCKER_BIN=/usr/bin/docker
[ -x "$DOCKER_BIN" ] || DOCKER_BIN="$(command -v docker || true)"
[ -n "$DOCKER_BIN" ] || fail "no Docker CLI found: install Debian's docker.io (bash .ci/provision)"
docker_cli() {
  if [ -n "${DOCKER_HOST:-}" ]; then "$DOCKER_BIN" -H "$DOCKER_HOST" "$@"; else "$DOCKER_BIN" "$@"; fi
}
docker_cli version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  fail "the Docker engine at ${DOCKER_HOST:-the default socket} does not answer: start it or set DOCKER_HOST"

image_recipe() {
  docker_cli image inspect --format '{{ index .Config.Labels "trellis.recipe" }}' "$IMAGE" 2>/dev/null || true
}
if [ "$(image_recipe)" = "$RECIPE" ]; then
  log "$IMAGE is up to date (recipe $RECIPE) on ${DOCKER_HOST:-the default engine}"
  exit 0
fi

mkdir -p "$CACHE_DIR"
# One build at a time per cache: a second caller waits, then finds the tarball or the image ready.
exec 9>"$CACHE_DIR/.build.lock"
flock 9
if [ "$(image_recipe)" = "$RECIPE" ]; then
  log "$IMAGE was built meanwhile (recipe $RECIPE)"
  exit 0
fi

# The first URI the host's apt uses for a suite, from one-line .list files or deb822 .sources files.
host_mirror_for() {
  local suite="$1" file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v s="$suite" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == s) { print $i; exit } }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    # Stanzas are separated by blank lines; print the URIs of one whose Suites list holds the suite.
    awk -v s="$suite" '
      /^[[:space:]]*$/ { if (hit && uri) exit; hit = 0; uri = ""; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
      END { if (hit && uri) print uri }' "$file"
  done
}

build_rootfs_tarball() {
  [ "$(id -u)" = 0 ] || fail "building the rootfs needs root (debootstrap, chroot, mount)"
  command -v debootstrap >/dev/null || fail "debootstrap is not installed: apt-get install debootstrap"
  local mirror security
  mirror="${TRELLIS_DEBIAN_MIRROR:-$(host_mirror_for "$SUITE" | head -1)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="$(host_mirror_for "$SUITE-security" | head -1)"

  WORK="$(mktemp -d "${TMPDIR:-/tmp}/trellis-rootfs-XXXXXX")"
  ROOTFS="$WORK/rootfs"
  # Interrupted or not, the chroot's mounts go and the work dir with them.
  trap cleanup_work EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  log "debootstrap --variant=minbase $SUITE from $mirror (about 30 s)"
  debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }

  {
    echo "deb $mirror $SUITE main"
    echo "deb $mirror $SUITE-updates main"
    [ -z "$security" ] || echo "deb $security $SUITE-security main"
  } >"$ROOTFS/etc/apt/sources.list"
  # Package scripts must not start services inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
  chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
  # No fsync per file while installing (the tarball is what persists), and no docs, man pages or
  # translations in the image (copyright files stay), as Debian's slim images do.
  echo 'force-unsafe-io' >"$ROOTFS/etc/dpkg/dpkg.cfg.d/trellis-unsafe-io"
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/trellis-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF

  mount -t proc proc "$ROOTFS/proc"
  mount -t sysfs sysfs "$ROOTFS/sys"
  # A /dev of its own rather than a bind of the host's: should this script be killed before it
  # unmounts, deleting the leftover tree can never remove the host's device nodes.
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$ROOTFS/dev"
  local node name major minor
  for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    read -r name major minor <<<"$node"
    mknod -m 0666 "$ROOTFS/dev/$name" c "$major" "$minor"
  done
  mkdir "$ROOTFS/dev/pts" "$ROOTFS/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
  ln -s pts/ptmx "$ROOTFS/dev/ptmx"

  in_chroot() {
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
  }
  log "apt-get install ${PACKAGES[*]} (about 95 s)"
  if ! { in_chroot apt-get update -qq && in_chroot apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >"$WORK/apt.log" 2>&1; then
    tail -30 "$WORK/apt.log" >&2
    fail "apt-get inside the rootfs failed (log above)"
  fi
  in_chroot python3 -c 'import torch, sklearn, onnx, numpy, requests; print("torch", torch.__version__)' |
    sed 's/^/build-training-image: check: /'
  in_chroot apt-get clean
  unmount_rootfs
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS/usr/sbin/policy-rc.d" \
    "$ROOTFS/etc/dpkg/dpkg.cfg.d/trellis-unsafe-io"

  log "packing the rootfs into $TARBALL"
  tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  # Tarballs of older recipes are dead weight (about 2 GB each).
  find "$CACHE_DIR" -maxdepth 1 -name "pytorch-$SUITE-*.tar*" ! -name "$(basename "$TARBALL")" -delete
}

unmount_rootfs() {
  local m
  for m in dev/pts dev sys proc; do
    if mountpoint -q "$ROOTFS/$m"; then umount "$ROOTFS/$m" || umount -l "$ROOTFS/$m"; fi
  done
}

cleanup_work() {
  local status=$?
  if [ -n "${ROOTFS:-}" ]; then unmount_rootfs || true; fi
  rm -f "$TARBALL.partial"
  # --one-file-system: should an unmount have failed, never descend into the host's /dev, /proc or /sys.
  if [ -n "${WORK:-}" ]; then rm -rf --one-file-system "$WORK" || log "could not remove $WORK entirely"; fi
  exit "$status"
}

if [ -f "$TARBALL" ]; then
  log "reusing the cached rootfs $TARBALL"
else
  build_rootfs_tarball
fi

log "docker import into $IMAGE on ${DOCKER_HOST:-the default engine} (about 30 s)"
replaced="$(docker_cli image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
changes=()
for e in "${IMAGE_ENV[@]}"; do changes+=(--change "ENV $e"); done
docker_cli import \
  "${changes[@]}" \
  --change "LABEL trellis.recipe=$RECIPE" \
  --change 'WORKDIR /' \
  --change 'CMD ["python3"]' \
  --message "Trellis example training image (scripts/build-training-image.sh, recipe $RECIPE)" \
  "$TARBALL" "$IMAGE" >/dev/null
[ "$(image_recipe)" = "$RECIPE" ] || fail "the imported image does not carry the label trellis.recipe=$RECIPE"
# The image of an older recipe lost its tag: remove it (2 GB) unless a container still uses it.
if [ -n "$replaced" ] && [ "$replaced" != "$(docker_cli image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  docker_cli rmi "$replaced" >/dev/null 2>&1 || true
fi
log "done: $IMAGE (recipe $RECIPE, $(docker_cli image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.2f GB", $1 / 1e9 }'))"
