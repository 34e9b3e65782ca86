/* keyring_probe: what a process in a container reaches of the kernel's keyrings, for
 * tests/tests/security_more.rs. Built with `gcc -static` (tests/src/probe.rs). Prints one line
 * per step, `STEP: RESULT`:
 *
 *   keyring_probe DESC   session: the serial of the session keyring (0 if none)
 *                        search:  the payload of the user key DESC found from the session
 *                                 keyring (KEYCTL_SEARCH, then KEYCTL_READ), or the errno's name
 *                        own:     a user key added to the session keyring and read back: ok */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *err(void)
{
	const char *n = strerrorname_np(errno);
	return n ? n : "E?";
}

static long keyctl(int op, long a, long b, long c, long d)
{
	return syscall(SYS_keyctl, op, a, b, c, d);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: keyring_probe DESC\n");
		return 2;
	}
	long s = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
	printf("session: %ld\n", s > 0 ? s : 0);
	long k = keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (long)"user", (long)argv[1], 0);
	char buf[256];
	if (k < 0) {
		printf("search: %s\n", err());
	} else {
		long n = keyctl(KEYCTL_READ, k, (long)buf, sizeof buf - 1, 0);
		if (n < 0)
			printf("search: found, read %s\n", err());
		else {
			buf[n < (long)sizeof buf ? n : (long)sizeof buf - 1] = 0;
			printf("search: %s\n", buf);
		}
	}
	const char mine[] = "own-payload";
	long o = syscall(SYS_add_key, "user", "berth-own", mine, sizeof mine - 1,
			 KEY_SPEC_SESSION_KEYRING);
	if (o < 0) {
		printf("own: %s\n", err());
		return 0;
	}
	long n = keyctl(KEYCTL_READ, o, (long)buf, sizeof buf - 1, 0);
	printf("own: %s\n", n == (long)sizeof mine - 1 && !memcmp(buf, mine, n) ? "ok" : err());
	return 0;
}
