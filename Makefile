# pushplan: PGXS build.  make / make install / make test / make demo / make bench
EXTENSION   = pushplan
EXTVERSION  = 0.2

MODULE_big  = pushplan
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c )))

# The extension scripts are assembled (doc/upgrading.md):
#   pushplan--0.2.sql       install-once objects (sql/install/schema.sql), then the replayable
#                           ones: functions, views and roles (sql/api/*.sql, CREATE OR REPLACE)
#   pushplan--0.1--0.2.sql  what 0.2 changes in the install-once objects (sql/upgrade/), then
#                           the same replayable parts
# Released scripts are kept as files (sql/pushplan--0.1.sql): upgrades start from them.
SCHEMA      = sql/install/schema.sql
API_PARTS   = $(sort $(wildcard sql/api/[0-9][0-9]_*.sql))
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--0.1--0.2.sql
DATA        = sql/$(EXTENSION)--0.1.sql

PG_CONFIG  ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lzip -lcurl -lssl -lcrypto

# make SANITIZE=1: the extension built with UndefinedBehaviorSanitizer, for make test-sanitize
# (test/sanitize.sh).
ifdef SANITIZE
PG_CFLAGS  += -fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SHLIB_LINK += -fsanitize=undefined
endif

# make ASAN=1: the extension built with AddressSanitizer, for make test-asan (test/asan.sh, which
# preloads the runtime into every server process; doc/reliability.md, "AddressSanitizer").
ifdef ASAN
PG_CFLAGS  += -fsanitize=address -fno-omit-frame-pointer
SHLIB_LINK += -fsanitize=address
endif

# make installcheck: the pg_regress suites (test/sql), the isolation suites (test/specs), each
# on a temporary instance that preloads pushplan (test/pushplan.conf), then the TAP tests
# (below), through PGXS. After `make install install-test-extension` (as root); initdb refuses
# root, so run installcheck itself as another user.
REGRESS        = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS   = --inputdir=test --outputdir=test --temp-instance=test/tmp_check \
                 --temp-config=test/pushplan.conf
ISOLATION      = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/isolation_output \
                 --temp-instance=test/tmp_check_isolation --temp-config=test/pushplan.conf

EXTRA_CLEAN = test/fuzz/build test/results test/regression.diffs test/regression.out test/tmp_check \
              test/isolation_output test/tmp_check_isolation

# The TAP tests (test/t/*.pl, PostgreSQL::Test::Cluster from PGXS; Perl's IPC::Run: dev/deps):
# the worker tests that restart or crash the server. `make prove_installcheck` runs them alone,
# as a non-root user after the same installs. Their clusters and logs go to tmp_check/.
TAP_TESTS    = 1
PROVE_TESTS  = test/t/*.pl

# JIT bitcode would need clang on every machine; pushplan gains nothing from inlining.
override with_llvm = no
# Objects depend on the headers they include (.deps/): a changed struct rebuilds its users.
override autodepend = yes

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SCHEMA) $(API_PARTS)
	cat $^ > $@

sql/$(EXTENSION)--0.1--0.2.sql: sql/upgrade/0.1--0.2.sql $(API_PARTS)
	cat $^ > $@

.PHONY: deps test test-citus fuzz test-sanitize test-asan demo bench bench-citus soak install-test-extension prove_installcheck
# the TAP tests alone (PGXS defines how to run them, not a target)
prove_installcheck:
	$(prove_installcheck)
# the test-only extension the suites use (test/modules/pushplan_test)
install-test-extension:
	$(MAKE) -C test/modules/pushplan_test install
deps:
	dev/deps

# Installing into the server's directories and testing against them is serialised, so that
# several working trees on one machine do not test each other's builds.  The tests also install
# the test-only extension pushplan_test (test/modules/pushplan_test), which make install leaves out.
test: deps
	$(MAKE) all
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install && $(MAKE) install-test-extension && test/run'

# libFuzzer targets for every parser in C (test/fuzz/), FUZZ_SECONDS (default 60) each, one after
# another; clang and its fuzzer runtime come from dev/deps --fuzz. doc/reliability.md, "Fuzzing and
# sanitizers". Not part of make test (a target runs for minutes to reach millions of inputs).
fuzz:
	dev/deps --fuzz
	test/fuzz/run.sh

# Every suite of make test against an extension built with UBSan (test/sanitize.sh); a report
# from a server process fails it. Under the install lock, the build without sanitizers is
# installed again afterwards (other working trees' runs expect a plain build), and the objects
# are left plain for the next make.
test-sanitize: deps
	$(MAKE) clean >/dev/null
	$(MAKE) all SANITIZE=1
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install SANITIZE=1 >/dev/null && $(MAKE) install-test-extension >/dev/null && test/sanitize.sh; \
	  rc=$$?; $(MAKE) clean >/dev/null; $(MAKE) all >/dev/null && $(MAKE) install >/dev/null; exit $$rc'

# Every suite of make test with AddressSanitizer in every server process (test/asan.sh: the
# extension built with ASAN=1, the runtime preloaded); a report from a server process fails it.
# Like test-sanitize: the plain build is installed again afterwards. About 90 minutes on the
# shared 2-core machine, so not part of make test (doc/reliability.md, "AddressSanitizer over the server").
test-asan: deps
	$(MAKE) clean >/dev/null
	$(MAKE) all ASAN=1
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install ASAN=1 >/dev/null && $(MAKE) install-test-extension >/dev/null && test/asan.sh; \
	  rc=$$?; $(MAKE) clean >/dev/null; $(MAKE) all >/dev/null && $(MAKE) install >/dev/null; exit $$rc'

# The Citus suites alone (test/citus/: a coordinator and two workers on loopback; doc/scale-out.md),
# building and installing Citus first when it is missing (dev/deps --citus, about 5 minutes).
test-citus:
	dev/deps --citus
	$(MAKE) all
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install && $(MAKE) install-test-extension && test/run --citus'

# The distributed registry against one node on the Citus harness (doc/benchmarks.md, "Citus"),
# then a broadcast's rate on both (test/bench/citus_send.sh, with the mock vendor), then event
# ingestion on both (test/bench/citus_events.sh), then audiences and expansion of 1,000,000
# devices per worker node against one node's 1,000,000 (test/bench/citus_expand.sh).
bench-citus:
	dev/deps --citus
	$(MAKE) all
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install && PUSHPLAN_TOP=$(CURDIR) PUSHPLAN_WORK=$$(mktemp -d /tmp/pushplan-bench-citus.XXXXXX) test/bench/citus.sh && PUSHPLAN_TOP=$(CURDIR) PUSHPLAN_WORK=$$(mktemp -d /tmp/pushplan-bench-citus.XXXXXX) test/bench/citus_send.sh && PUSHPLAN_TOP=$(CURDIR) PUSHPLAN_WORK=$$(mktemp -d /tmp/pushplan-bench-citus.XXXXXX) test/bench/citus_events.sh && PUSHPLAN_TOP=$(CURDIR) PUSHPLAN_WORK=$$(mktemp -d /tmp/pushplan-bench-citus.XXXXXX) test/bench/citus_expand.sh'

# The soak (test/soak/soak.sh; doc/reliability.md, "Soak"): sends, schedules, registrations, flow
# events and statistics at once against the mock vendor with faults, for SOAK_SECONDS (600), then
# a drain; fails on a client error, a worker that died, a delivery left queued, or a worker's
# memory that grew. It runs on a private copy of the PostgreSQL installation with this build in
# it (test/soak/private_pg.sh), so it holds no install lock for its ten minutes and needs no root.
SOAK_SECONDS ?= 600
soak: deps
	$(MAKE) all
	w=$$(mktemp -d /tmp/pushplan-soak.XXXXXX) && chmod 755 $$w && bin=$$(test/soak/private_pg.sh $$w/pg) && \
	  PATH=$$bin:$$PATH SOAK_SECONDS=$(SOAK_SECONDS) PUSHPLAN_TOP=$(CURDIR) PUSHPLAN_WORK=$$w test/soak/soak.sh

# The demo installs too: under the same lock, so that it never races a test run.
demo: deps
	$(MAKE) all
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install && dev/demo'

# Benchmarks run against the installed build, so they hold the install lock as the tests do.
bench: deps
	$(MAKE) all
	flock -o /tmp/pushplan-install.lock sh -c '$(MAKE) install && test/bench/run'
