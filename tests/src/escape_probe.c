/* escape_probe: attacks that busybox cannot type, run inside a container by
 * tests/tests/security_exec.rs. Built with `gcc -static` (tests/src/probe.rs). Every step
 * prints one line `STEP: ok` or `STEP: <errno name>`, so the test asserts on what happened.
 *
 *   escape_probe exe DIR   CVE-2019-5736, driven through files in DIR (a volume the test
 *                          shares), so that no berth-spawn needs to run while it works: waits
 *                          for DIR/target (a pid), opens /proc/PID/exe as O_PATH (the handle
 *                          outlives the process), prints its target into DIR/opened, waits for
 *                          DIR/go (the test lets the process exec and berth-spawn exit
 *                          meanwhile), then reopens the handle for writing through
 *                          /proc/self/fd/N and writes its first byte back (the same byte: a
 *                          success proves the file writable without changing it), tries
 *                          O_WRONLY on /proc/PID/exe directly, and prints that into
 *                          DIR/result.
 *   /proc/self/exe         run as a program's ELF interpreter, with that argv[0] (see
 *                          self_exe below).
 *   escape_probe tty       the controlling terminal: tty_nr of /proc/self/stat, whether
 *                          /dev/tty opens, the session, and TIOCSTI on /dev/tty and fds 0-2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static FILE *out;

static void say(const char *step, int ok)
{
	if (ok)
		fprintf(out, "%s: ok\n", step);
	else
		fprintf(out, "%s: %s\n", step, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
	fflush(out);
}

/* Writes the first byte of fd back in place. */
static int rewrite_first_byte(int fd)
{
	char c;
	if (pread(fd, &c, 1, 0) != 1)
		return 0;
	return pwrite(fd, &c, 1, 0) == 1;
}

/* Waits until DIR/NAME exists; returns its first line (static buffer). */
static const char *await_file(const char *dir, const char *name)
{
	static char line[64];
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	for (;;) {
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(line, sizeof line, f))
				line[0] = 0;
			fclose(f);
			line[strcspn(line, "\n")] = 0;
			return line;
		}
		usleep(10000);
	}
}

/* Starts writing DIR/NAME.tmp; finish() renames it to DIR/NAME. */
static void begin(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.tmp", dir, name);
	out = fopen(path, "w");
	if (!out)
		exit(3);
}

static void finish(const char *dir, const char *name)
{
	char from[512], to[512];
	fclose(out);
	snprintf(from, sizeof from, "%s/%s.tmp", dir, name);
	snprintf(to, sizeof to, "%s/%s", dir, name);
	rename(from, to);
}

static int exe(const char *dir)
{
	char path[64], link[256], self[64];
	const char *pid = await_file(dir, "target");
	snprintf(path, sizeof path, "/proc/%s/exe", pid);
	begin(dir, "opened");
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n >= 0) {
		link[n] = 0;
		fprintf(out, "target: %s\n", link);
	} else {
		say("target", 0);
	}
	int o = open(path, O_PATH | O_CLOEXEC);
	say("open-exe", o >= 0);
	finish(dir, "opened");
	begin(dir, "result");
	if (o >= 0) {
		await_file(dir, "go");
		snprintf(self, sizeof self, "/proc/self/fd/%d", o);
		int w = open(self, O_RDWR | O_CLOEXEC);
		say("reopen-rw", w >= 0);
		if (w >= 0)
			say("write", rewrite_first_byte(w));
		int d = open(path, O_WRONLY | O_CLOEXEC);
		say("open-exe-wronly", d >= 0);
		if (d >= 0)
			say("write-direct", rewrite_first_byte(d));
	}
	finish(dir, "result");
	return 0;
}

static void tiocsti(const char *step, int fd)
{
	char c = '#';
	say(step, ioctl(fd, TIOCSTI, &c) == 0);
}

static int tty(void)
{
	out = stdout;
	FILE *f = fopen("/proc/self/stat", "r");
	char buf[1024] = "";
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
	}
	/* Fields after the command name (which ends with the last ')'): state ppid pgrp
	 * session tty_nr. */
	char *p = strrchr(buf, ')');
	int ppid = 0, pgrp = 0, session = 0, tty_nr = -1;
	if (p)
		sscanf(p + 2, "%*c %d %d %d %d", &ppid, &pgrp, &session, &tty_nr);
	fprintf(out, "tty_nr: %d\n", tty_nr);
	fprintf(out, "session-leader: %s\n", session == getpid() ? "yes" : "no");
	int t = open("/dev/tty", O_RDWR | O_NOCTTY);
	say("open-devtty", t >= 0);
	if (t >= 0)
		tiocsti("tiocsti-devtty", t);
	tiocsti("tiocsti-0", 0);
	tiocsti("tiocsti-1", 1);
	tiocsti("tiocsti-2", 2);
	return 0;
}

/* Run as the ELF interpreter of whatever a container's command `/proc/self/exe` was (the
 * probe bind-mounted as /lib64/ld-linux-x86-64.so.2): that program's file is our
 * /proc/self/exe. Prints it, and whether it opens for writing, directly or by reopening an
 * O_PATH handle. */
static int self_exe(void)
{
	char target[512];
	ssize_t n = readlink("/proc/self/exe", target, sizeof(target) - 1);
	int fd, w;

	out = stdout;
	target[n > 0 ? n : 0] = 0;
	fprintf(out, "self-exe-target: %s\n", target);
	w = open("/proc/self/exe", O_WRONLY);
	say("self-exe-write", w >= 0);
	fd = open("/proc/self/exe", O_PATH);
	if (fd >= 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		say("self-exe-reopen", open(path, O_RDWR) >= 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "/proc/self/exe"))
		return self_exe();
	if (argc == 3 && !strcmp(argv[1], "exe"))
		return exe(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "tty"))
		return tty();
	fprintf(stderr, "usage: escape_probe exe DIR | tty\n");
	return 2;
}
