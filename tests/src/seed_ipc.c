/* The seed's ch6_ipc (docker-notes.md, "Shared memory"): a SysV message queue producer and
 * consumer that find each other by a fixed key, so they meet only inside one IPC namespace.
 * Built static by tests/src/seed_images.rs; the key can be changed with IPC_KEY (a test that
 * uses the host's namespace picks its own, so it never meets anything else on the machine).
 *
 *   ipc -producer   creates the queue and sends "message N" every 200 ms
 *   ipc -consumer   opens the queue (retrying every second while there is none) and prints
 *                   what it receives
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

struct message {
    long type;
    char text[64];
};

int main(int argc, char **argv) {
    const char *k = getenv("IPC_KEY");
    key_t key = k ? (key_t)strtol(k, NULL, 0) : 0x1234;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "-producer") == 0) {
        int q = msgget(key, IPC_CREAT | 0666);
        if (q < 0) {
            printf("producer: cannot create queue 0x%x: %s\n", (unsigned)key, strerror(errno));
            return 1;
        }
        printf("producer: queue 0x%x ready\n", (unsigned)key);
        for (long n = 1;; n++) {
            struct message m = {.type = 1};
            snprintf(m.text, sizeof m.text, "message %ld", n);
            /* A full queue (no consumer) is not an error: the message is dropped. */
            if (msgsnd(q, &m, sizeof m.text, IPC_NOWAIT) == 0) {
                printf("producer: sent %s\n", m.text);
            } else if (errno != EAGAIN) {
                printf("producer: send failed: %s\n", strerror(errno));
                return 1;
            }
            usleep(200000);
        }
    }
    if (argc == 2 && strcmp(argv[1], "-consumer") == 0) {
        for (;;) {
            int q = msgget(key, 0);
            if (q < 0) {
                printf("consumer: no queue 0x%x: %s\n", (unsigned)key, strerror(errno));
                sleep(1);
                continue;
            }
            struct message m;
            if (msgrcv(q, &m, sizeof m.text, 0, 0) < 0) {
                printf("consumer: receive failed: %s\n", strerror(errno));
                sleep(1);
                continue;
            }
            printf("consumer: received %s\n", m.text);
        }
    }
    fprintf(stderr, "usage: ipc -producer|-consumer\n");
    return 2;
}
