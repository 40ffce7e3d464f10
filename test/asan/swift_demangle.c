/*
 * A library preloaded after AddressSanitizer's runtime into every process of make test-asan
 * (test/asan.sh), so that the runtime can start inside Debian's PostgreSQL 15 binaries.
 *
 * Those binaries link libgpg-error and gnutls (through libsystemd and libldap), whose
 * constructors run before the preloaded runtime's own and call bindtextdomain(). That holds
 * glibc's gettext lock (_nl_state_lock) for writing and calls malloc(); the runtime starts
 * inside that malloc and looks up the symbol swift_demangle with dlsym(). When the symbol is
 * missing, it clears the pending error with dlerror(), which translates the message through
 * gettext, takes the same lock again and releases it. The lock's reader count goes negative
 * and the next bindtextdomain() or setlocale() waits on it forever.
 *
 * With the symbol present, dlsym() succeeds, dlerror() has nothing to translate and the lock
 * is never taken twice. The runtime calls the function only to demangle Swift names in a
 * report's stack; returning NULL says "not a Swift name" and it prints the name as it is.
 */
#include <stddef.h>
#include <stdint.h>

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
