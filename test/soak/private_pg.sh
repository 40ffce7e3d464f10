#!/usr/bin/env bash
# test/soak/private_pg.sh DIR: a private copy of the PostgreSQL installation (pg_config's, about
# 70 MB) under DIR, with this tree's build installed into it (make install DESTDIR=DIR), and
# prints the copy's bindir. PostgreSQL finds its libraries and extension files relative to its
# own binaries, so a server started from the copy loads this build, whatever another working
# tree installs meanwhile: a long run (make soak) needs neither the install lock nor root.
set -euo pipefail
dir=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
bindir=$(pg_config --bindir)
libroot=$(cd "$bindir/.." && pwd)            # e.g. /usr/lib/postgresql/15
share=$(pg_config --sharedir)                # e.g. /usr/share/postgresql/15
mkdir -p "$dir$(dirname "$libroot")" "$dir$(dirname "$share")"
cp -a "$libroot" "$dir$(dirname "$libroot")/"
cp -a "$share" "$dir$(dirname "$share")/"
# the server headers, for what reads them (test/static/errors.sh reads errcodes.h): shared
inc=$(pg_config --includedir-server)
mkdir -p "$dir$(dirname "$inc")"
ln -sfn "$inc" "$dir$inc"
make -s -C "$top" install DESTDIR="$dir" >/dev/null
make -s -C "$top/test/modules/pushplan_test" install DESTDIR="$dir" >/dev/null
chmod -R a+rX "$dir"
# the copy must say where it is (a relocated installation), or the server would load the shared one
[ "$("$dir$bindir/pg_config" --pkglibdir)" = "$dir$(pg_config --pkglibdir)" ] || {
  echo "private_pg: this PostgreSQL installation is not relocatable" >&2; exit 1; }
echo "$dir$bindir"
