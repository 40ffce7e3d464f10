# Shared by test/soak/soak.sh and test/soak/broadcast_memory.sh. Source it after
# test/integration/lib/vendor_env.sh (it uses psql and $cluster), then:
#   soak_start MOCK_PORT PG_PORT CONF...   vendor_env_start, then CREATE EXTENSION pushplan and
#                        pushplan_test. Run it on a private installation (test/soak/private_pg.sh,
#                        its bindir first in PATH: make soak does), or under
#                        /tmp/pushplan-install.lock for the whole run: a backend or worker that
#                        starts after another tree's make install loads that tree's pushplan.so
#                        (PostgreSQL knows a loaded library by its file, and an install writes a
#                        new file)
# The memory of pushplan's workers, sampled from outside:
#   mem_sample LABEL     one row per worker into $work/memory.tsv:
#                        label, seconds since mem_t0, backend_type, pid, VmRSS kB, RssAnon kB,
#                        memory contexts' grand total in bytes, and the part of it under
#                        TopTransactionContext (a transaction in progress at the sample)
#   mem_table            memory.tsv as a table, one line per sample and worker
#   mem_growth FROM TO   per worker type: "type rssanon_from rssanon_to ctx_from ctx_to" (kB,
#                        kB, bytes, bytes), the highest over the type's processes at each label;
#                        the contexts without the transaction in progress's
# RssAnon is the process's private memory (what it allocated, not the shared buffers it
# touched, which VmRSS counts too and which grows as a backend reads more pages: not a leak).
# The contexts' total comes from pg_log_backend_memory_contexts (the server log's "Grand total"
# line of that pid): what palloc holds, where a growing context shows before the RSS does.
mem_t0=$(date +%s)
mem_file() { echo "$work/memory.tsv"; }

mem_sample() {
  local label=$1 log=$cluster/server.log off rows type pid rss anon ctx i
  off=$(stat -c %s "$log")
  rows=$(psql -F ' ' -c "SELECT replace(backend_type, ' ', '_'), pid FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %' ORDER BY 1, 2")
  psql -c "SELECT pg_log_backend_memory_contexts(pid) FROM pg_stat_activity WHERE backend_type LIKE 'pushplan %'" >/dev/null
  # each worker logs at its next interrupt check: wait (bounded, 5 s) for every grand total
  for ((i = 0; i < 50; i++)); do
    [ "$(tail -c +$((off + 1)) "$log" | grep -c 'Grand total: ')" -ge "$(echo "$rows" | grep -c .)" ] && break
    sleep 0.1
  done
  while read -r type pid; do
    [ -n "$pid" ] || continue
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    ctx=$(tail -c +$((off + 1)) "$log" | grep "\[$pid\] LOG:  Grand total: " | tail -n 1 |
      sed 's/.*Grand total: \([0-9]*\) bytes.*/\1/')
    # the part of it that the transaction in progress holds (TopTransactionContext and below):
    # freed at its commit, so left out of what must stay flat
    xact=$(tail -c +$((off + 1)) "$log" | grep "\[$pid\] LOG:  level: " |
      awk '/level: 1; TopTransactionContext:/ { in_xact = 1 }
           /level: 1; / && !/TopTransactionContext:/ { in_xact = 0 }
           in_xact { if (match($0, /[0-9]+ total in/)) { v = substr($0, RSTART, RLENGTH); sub(/ .*/, "", v); sum += v } }
           END { print sum + 0 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" $(( $(date +%s) - mem_t0 )) "${type//_/ }" "$pid" \
      "${rss:--}" "${anon:--}" "${ctx:--}" "${xact:-0}" >> "$(mem_file)"
  done <<< "$rows"
}

mem_table() {
  echo "| sample | s | worker | pid | VmRSS MB | RssAnon MB | contexts MB | of which a transaction's |"
  echo "|---|---|---|---|---|---|---|---|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4,
      ($5 == "-" ? "-" : sprintf("%.1f", $5 / 1024)), ($6 == "-" ? "-" : sprintf("%.1f", $6 / 1024)),
      ($7 == "-" ? "-" : sprintf("%.2f", $7 / 1048576)), sprintf("%.2f", $8 / 1048576) }' "$(mem_file)"
}

mem_growth() {
  awk -F'\t' -v from="$1" -v to="$2" '
    $1 == from { if ($6 > a[$3]) a[$3] = $6; if ($7 - $8 > c[$3]) c[$3] = $7 - $8; seen[$3] = 1 }
    $1 == to   { if ($6 > b[$3]) b[$3] = $6; if ($7 - $8 > d[$3]) d[$3] = $7 - $8; seen[$3] = 1 }
    END { for (t in seen) printf "%s\t%d\t%d\t%d\t%d\n", t, a[t], b[t], c[t], d[t] }' "$(mem_file)" | sort
}

soak_start() {
  vendor_env_start "$@"
  psql -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" >/dev/null || exit 1
}
