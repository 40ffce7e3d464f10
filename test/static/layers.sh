#!/usr/bin/env bash
# The C sources call each other in layers, never in a circle.
#
# From the built objects (nm): which object defines each global symbol and which it leaves
# undefined gives the calls between files; their strongly connected components (Tarjan) are the
# circles.  Prints every file's floor (0: calls no other file of ours) with what it calls, then
# every circle; fails when there is one, or when a file uses a pp_ symbol that no file defines.  Run after make: bash test/static/layers.sh
set -eu
top=${PUSHPLAN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
# the object of every source (a stale object of a removed source is not read)
objs=
for c in src/*.c; do
  if [ ! -e "${c%.c}.o" ]; then echo "FAIL: ${c%.c}.o is missing: run make first"; exit 1; fi
  objs="$objs ${c%.c}.o"
done
for o in $objs; do
  nm "$o" | awk -v f="${o%.o}.c" '$1 == "U" { print "U", f, $2; next }
                                   NF == 3 && $2 ~ /^[TDBRC]$/ { print "D", f, $3 }'
done | awk '
  $1 == "D" { def[$3] = $2; files[$2] = 1; next }
  $1 == "U" { use[$2, $3] = 1; files[$2] = 1; nuse++; uf[nuse] = $2; us[nuse] = $3 }
  END {
    for (i = 1; i <= nuse; i++) {
      t = def[us[i]]
      if (t != "" && t != uf[i] && !((uf[i], t) in edge)) {
        edge[uf[i], t] = 1; out[uf[i]] = out[uf[i]] " " t
      }
      if (t != "" && t != uf[i]) why[uf[i], t] = why[uf[i], t] " " us[i]
    }
    n = 0; for (f in files) node[++n] = f
    # sort nodes by name for stable output
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (node[j] < node[i]) { x = node[i]; node[i] = node[j]; node[j] = x }
    idx = 0; sp = 0; ncomp = 0
    for (i = 1; i <= n; i++) if (!(node[i] in index_)) strong(node[i])
    # floors: longest path down (components are single files when there is no circle)
    for (i = 1; i <= n; i++) floor_of(node[i])
    for (i = 1; i <= n; i++) {
      f = node[i]; m = split(out[f], callee, " "); list = ""
      for (k = 1; k <= m; k++) list = list " " callee[k]
      printf "floor %d  %s ->%s\n", fl[f], f, (list == "" ? " (nothing of ours)" : list)
    }
    bad = 0
    # a pushplan symbol that no object defines loads as an error only at run time
    for (i = 1; i <= nuse; i++)
      if (us[i] ~ /^(pp_|pushplan_)/ && def[us[i]] == "" && !(us[i] in told)) {
        told[us[i]] = 1; bad++; printf "FAIL: %s uses %s, which no file defines\n", uf[i], us[i]
      }
    for (c = 1; c <= ncomp; c++) if (csize[c] > 1) {
      bad++; printf "FAIL: circle %d: %s\n", bad, cmembers[c]
      m = split(cmembers[c], mem, " ")
      for (a = 1; a <= m; a++) for (b = 1; b <= m; b++)
        if ((mem[a], mem[b]) in edge) printf "  %s -> %s:%s\n", mem[a], mem[b], why[mem[a], mem[b]]
    }
    if (bad) { printf "%d problem(s) among the C files\n", bad; exit 1 }
    print "no circles among the C files"
  }
  function strong(v,    m, k, w, callee) {
    index_[v] = idx; low[v] = idx; idx++; stack[++sp] = v; onstack[v] = 1
    m = split(out[v], callee, " ")
    for (k = 1; k <= m; k++) {
      w = callee[k]
      if (!(w in index_)) { strong(w); if (low[w] < low[v]) low[v] = low[w] }
      else if (onstack[w] && index_[w] < low[v]) low[v] = index_[w]
    }
    if (low[v] == index_[v]) {
      ncomp++; csize[ncomp] = 0; cmembers[ncomp] = ""
      do { w = stack[sp--]; onstack[w] = 0; comp[w] = ncomp; csize[ncomp]++; cmembers[ncomp] = cmembers[ncomp] " " w } while (w != v)
    }
  }
  function floor_of(v,    m, k, w, callee, best) {
    if (v in fl) return fl[v]
    fl[v] = 0; best = 0
    m = split(out[v], callee, " ")
    for (k = 1; k <= m; k++) {
      w = callee[k]
      if (comp[w] == comp[v]) continue
      if (floor_of(w) + 1 > best) best = fl[w] + 1
    }
    fl[v] = best; return best
  }'
