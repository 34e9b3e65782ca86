/* berth-dmz: the last step between a container's init and its command (runtime/exeseal.rs,
 * "The dmz"). berth-spawn's init execs this program from a sealed memfd; it execs the
 * command. So the process that execs the command already runs from a handle nothing can
 * write through, and a command that is (or whose interpreter is) /proc/self/exe finds this
 * sealed copy there, never the host's berth-spawn (CVE-2019-5736).
 *
 *   berth-dmz FD PATH ARGV0 ARGS...
 *
 * FD is the init's sync channel (a SOCK_SEQPACKET socket), left open across this program's
 * own exec: it is made close-on-exec again here, so that berth-spawn reads its end-of-file
 * exactly when the command's execve succeeded. If the execve fails, the errno goes back on
 * FD as the init's message {"ExecFailed":ERRNO} (runtime/channel.rs), and the exit code is
 * Docker's: 127 for a missing file, 126 otherwise.
 *
 * No libc: a few system calls, so that the program is about 500 bytes of code (in an 8.7 KB
 * file, the rest page alignment) that start at once. build.rs compiles it (-nostdlib -static); an
 * architecture without the stubs below gets no dmz, and berth-spawn falls back to
 * re-executing itself sealed. */

#if defined(__x86_64__)
#define NR_WRITE 1
#define NR_FCNTL 72
#define NR_EXECVE 59
#define NR_EXIT_GROUP 231
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
/* The kernel leaves argc at the stack pointer, then argv, NULL, envp, NULL. */
__asm__(".text\n.global _start\n_start:\n\txor %rbp, %rbp\n\tmov %rsp, %rdi\n"
	"\tand $-16, %rsp\n\tcall dmz_main\n\thlt\n");
#elif defined(__aarch64__)
#define NR_WRITE 64
#define NR_FCNTL 25
#define NR_EXECVE 221
#define NR_EXIT_GROUP 94
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
__asm__(".text\n.global _start\n_start:\n\tmov x0, sp\n\tbl dmz_main\n\tbrk #0\n");
#else
#error "berth-dmz: no system call stubs for this architecture"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1
#define ENOENT 2

__attribute__((noreturn)) static void leave(int code)
{
	for (;;)
		sys3(NR_EXIT_GROUP, code, 0, 0);
}

/* Run with arguments that are not berth-spawn's: the container's command was /proc/self/exe
 * (or a script whose interpreter is), which is this program at that point. */
__attribute__((noreturn)) static void not_a_command(void)
{
	static const char line[] =
		"berth-dmz: /proc/self/exe is berth's exec helper here, not a program of the image\n";
	sys3(NR_WRITE, 2, (long)line, sizeof(line) - 1);
	leave(127);
}

__attribute__((noreturn, used)) void dmz_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	long fd = 0;
	const char *p;
	char msg[32] = "{\"ExecFailed\":";
	char digits[12];
	int n = 14, k = 0;
	long err, e;

	if (argc < 4)
		not_a_command();
	for (p = argv[1]; *p >= '0' && *p <= '9'; p++)
		fd = fd * 10 + (*p - '0');
	if (*p != 0 || p == argv[1])
		not_a_command();
	sys3(NR_FCNTL, fd, F_SETFD, FD_CLOEXEC);
	err = e = -sys3(NR_EXECVE, (long)argv[2], (long)(argv + 3), (long)envp);
	do
		digits[k++] = (char)('0' + err % 10);
	while ((err /= 10) > 0 && k < 11);
	while (k > 0)
		msg[n++] = digits[--k];
	msg[n++] = '}';
	sys3(NR_WRITE, fd, (long)msg, n);
	leave(e == ENOENT ? 127 : 126);
}
