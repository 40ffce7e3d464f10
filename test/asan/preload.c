/*
 * preload.c: what make test-asan (test/asan.sh) preloads after AddressSanitizer's runtime into
 * every process of the suites. Two things:
 *
 * 1. A swift_demangle symbol, so that the runtime can start inside Debian's PostgreSQL 15
 * binaries. Those link libgpg-error and gnutls (through libsystemd and libldap), whose
 * constructors run before the preloaded runtime's own and call bindtextdomain(). That holds
 * glibc's gettext lock (_nl_state_lock) for writing and calls malloc(); the runtime starts
 * inside that malloc and looks up swift_demangle with dlsym(). When the symbol is missing, it
 * clears the pending error with dlerror(), which translates the message through gettext, takes
 * the same lock again and releases it. The lock's reader count goes negative and the next
 * bindtextdomain() or setlocale() waits on it forever. With the symbol present, dlsym()
 * succeeds, dlerror() has nothing to translate, and the lock is never taken twice. The runtime
 * calls the function only to demangle Swift names in a report's stack: NULL says "not a Swift
 * name", and it prints the name as it is.
 *
 * 2. A count of the server processes that ran with the runtime: each postgres process (the
 * postmaster and initdb's, by exec; every backend and worker, by fork) appends its pid to the
 * file named by PUSHPLAN_ASAN_PROCESSES, so the run can say how many there were.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char	   *swift_demangle(const char *mangled_name, size_t mangled_name_length,
						   char *output_buffer, size_t *output_buffer_size, uint32_t flags);

char *
swift_demangle(const char *mangled_name, size_t mangled_name_length,
			   char *output_buffer, size_t *output_buffer_size, uint32_t flags)
{
	(void) mangled_name;
	(void) mangled_name_length;
	(void) output_buffer;
	(void) output_buffer_size;
	(void) flags;
	return NULL;
}

/* Appends this process's pid to $PUSHPLAN_ASAN_PROCESSES when the process is a postgres one. */
static void
count_server_process(void)
{
	const char *path = getenv("PUSHPLAN_ASAN_PROCESSES");
	char		line[24];
	int			fd;
	int			len;
	int			saved_errno = errno;

	if (path == NULL || strcmp(program_invocation_short_name, "postgres") != 0)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0)
	{
		len = snprintf(line, sizeof(line), "%d\n", (int) getpid());
		/* one short write makes the count short by one: no reason to disturb the server */
		if (write(fd, line, len) < 0)
			errno = saved_errno;
		close(fd);
	}
	errno = saved_errno;
}

__attribute__((constructor))
static void
preload_init(void)
{
	count_server_process();
	pthread_atfork(NULL, NULL, count_server_process);
}
