/* The calls Docker 25's seccomp profile refuses and busybox cannot make, for
 * tests/tests/security_lsm.rs (built with gcc -static, bind-mounted into a container).
 * Prints one line per probe: its name, then "ok" or the errno's name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif

static const char *name(long r) {
	if (r >= 0)
		return "ok";
	switch (errno) {
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EBADF: return "EBADF";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	default: return strerror(errno);
	}
}

int main(void) {
	unsigned char params[120]; /* struct io_uring_params */
	memset(params, 0, sizeof params);
	printf("io_uring_setup %s\n", name(syscall(__NR_io_uring_setup, 1, params)));
	printf("io_uring_enter %s\n", name(syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0)));
	printf("io_uring_register %s\n", name(syscall(__NR_io_uring_register, -1, 0, NULL, 0)));
	printf("socket_alg %s\n", name(socket(AF_ALG, SOCK_SEQPACKET, 0)));
	return 0;
}
