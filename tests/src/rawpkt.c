/*
 * rawpkt: sends hand-made IPv4 frames through an AF_PACKET socket, as any process with
 * CAP_NET_RAW (a container's default) can, so that a test can address a frame to a router's
 * MAC with a destination the router must not accept (127.0.0.1). Built with gcc -static by
 * tests/tests/security_net.rs, and run inside containers and fake hosts.
 *
 *   rawpkt IFACE DST_MAC DST_IP udp PORT MESSAGE
 *       sends one datagram; prints "sent" and exits 0.
 *   rawpkt IFACE DST_MAC DST_IP tcp PORT MESSAGE
 *       sends a SYN (three times, a second apart, until answered). On a SYN-ACK from
 *       DST_IP:PORT it completes the handshake with an ACK that carries MESSAGE, prints
 *       "answered" and exits 0; otherwise prints "no answer" and exits 1.
 *
 * The source address and MAC are IFACE's own. Exit 2: bad arguments or a failed call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETH_LEN 14
#define IP_LEN 20
#define UDP_LEN 8
#define TCP_LEN 20
#define F_SYN 0x02
#define F_PSH 0x08
#define F_ACK 0x10

static int sock;
static struct sockaddr_ll dest;
static unsigned char src_mac[6], dst_mac[6];
static uint32_t src_ip, dst_ip; /* network order */

static void die(const char *what) {
    fprintf(stderr, "rawpkt: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void put16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* The Internet checksum of `len` bytes, continuing from `sum`. */
static uint32_t sum16(const unsigned char *p, size_t len, uint32_t sum) {
    for (size_t i = 0; i + 1 < len; i += 2) sum += get16(p + i);
    if (len & 1) sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Builds Ethernet + IPv4 + UDP or TCP + payload in `f`; returns the frame's length. */
static size_t frame(unsigned char *f, int proto, uint16_t sport, uint16_t dport, uint32_t seq,
                    uint32_t ack, uint8_t flags, const char *msg, size_t mlen) {
    size_t l4 = proto == IPPROTO_UDP ? UDP_LEN : TCP_LEN;
    size_t total = IP_LEN + l4 + mlen;
    unsigned char *ip = f + ETH_LEN, *t = ip + IP_LEN;
    uint16_t id;
    memset(f, 0, ETH_LEN + total);
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src_mac, 6);
    put16(f + 12, ETH_P_IP);
    if (getrandom(&id, sizeof id, 0) != sizeof id) die("getrandom");
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)total);
    put16(ip + 4, id);
    put16(ip + 6, 0x4000); /* don't fragment */
    ip[8] = 64;
    ip[9] = (unsigned char)proto;
    memcpy(ip + 12, &src_ip, 4);
    memcpy(ip + 16, &dst_ip, 4);
    put16(ip + 10, fold(sum16(ip, IP_LEN, 0)));
    put16(t, sport);
    put16(t + 2, dport);
    if (proto == IPPROTO_UDP) {
        put16(t + 4, (uint16_t)(UDP_LEN + mlen));
    } else {
        put32(t + 4, seq);
        put32(t + 8, ack);
        t[12] = (TCP_LEN / 4) << 4;
        t[13] = flags;
        put16(t + 14, 65535);
    }
    memcpy(t + l4, msg, mlen);
    /* Pseudo-header: addresses, protocol, length. */
    uint32_t sum = sum16(ip + 12, 8, 0) + (uint32_t)proto + (uint32_t)(l4 + mlen);
    uint16_t c = fold(sum16(t, l4 + mlen, sum));
    if (proto == IPPROTO_UDP && c == 0) c = 0xffff;
    put16(t + (proto == IPPROTO_UDP ? 6 : 16), c);
    return ETH_LEN + total;
}

static void send_frame(const unsigned char *f, size_t len) {
    if (sendto(sock, f, len, 0, (struct sockaddr *)&dest, sizeof dest) != (ssize_t)len)
        die("sendto");
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until `deadline` for a SYN-ACK from dst_ip:dport to sport; stores its sequence. */
static int wait_synack(uint16_t sport, uint16_t dport, long deadline, uint32_t *their_seq) {
    unsigned char buf[2048];
    struct pollfd p = {.fd = sock, .events = POLLIN};
    long left;
    while ((left = deadline - now_ms()) > 0) {
        if (poll(&p, 1, (int)left) <= 0) continue;
        struct sockaddr_ll from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(sock, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < ETH_LEN + IP_LEN + TCP_LEN || from.sll_pkttype == PACKET_OUTGOING) continue;
        const unsigned char *ip = buf + ETH_LEN;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        if (get16(buf + 12) != ETH_P_IP || ip[9] != IPPROTO_TCP ||
            n < (ssize_t)(ETH_LEN + ihl + TCP_LEN) || memcmp(ip + 12, &dst_ip, 4) != 0)
            continue;
        const unsigned char *t = ip + ihl;
        if (get16(t) == dport && get16(t + 2) == sport && (t[13] & (F_SYN | F_ACK)) == (F_SYN | F_ACK)) {
            *their_seq = get32(t + 4);
            return 1;
        }
    }
    return 0;
}

static void open_iface(const char *name) {
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX");
    int index = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
    memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(fd, SIOCGIFADDR, &ifr) < 0) die("SIOCGIFADDR");
    memcpy(&src_ip, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, 4);
    close(fd);
    sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (sock < 0) die("socket(AF_PACKET)");
    memset(&dest, 0, sizeof dest);
    dest.sll_family = AF_PACKET;
    dest.sll_protocol = htons(ETH_P_IP);
    dest.sll_ifindex = index;
    if (bind(sock, (struct sockaddr *)&dest, sizeof dest) < 0) die("bind");
    dest.sll_halen = 6;
    memcpy(dest.sll_addr, dst_mac, 6);
}

int main(int argc, char **argv) {
    unsigned char f[ETH_LEN + IP_LEN + TCP_LEN + 1024];
    if (argc != 7) {
        fprintf(stderr, "usage: rawpkt IFACE DST_MAC DST_IP udp|tcp PORT MESSAGE\n");
        return 2;
    }
    if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst_mac[0], &dst_mac[1], &dst_mac[2],
               &dst_mac[3], &dst_mac[4], &dst_mac[5]) != 6 ||
        inet_pton(AF_INET, argv[3], &dst_ip) != 1) {
        fprintf(stderr, "rawpkt: bad MAC %s or address %s\n", argv[2], argv[3]);
        return 2;
    }
    int udp = strcmp(argv[4], "udp") == 0;
    long port = strtol(argv[5], NULL, 10);
    size_t mlen = strlen(argv[6]);
    if ((!udp && strcmp(argv[4], "tcp") != 0) || port < 1 || port > 65535 || mlen > 1024) {
        fprintf(stderr, "rawpkt: bad protocol %s, port %s or message\n", argv[4], argv[5]);
        return 2;
    }
    open_iface(argv[1]);
    uint32_t r[2];
    if (getrandom(r, sizeof r, 0) != sizeof r) die("getrandom");
    uint16_t sport = (uint16_t)(40000 + r[0] % 20000), dport = (uint16_t)port;
    if (udp) {
        send_frame(f, frame(f, IPPROTO_UDP, sport, dport, 0, 0, 0, argv[6], mlen));
        puts("sent");
        return 0;
    }
    uint32_t seq = r[1], theirs = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        send_frame(f, frame(f, IPPROTO_TCP, sport, dport, seq, 0, F_SYN, "", 0));
        if (wait_synack(sport, dport, now_ms() + 1000, &theirs)) {
            size_t n = frame(f, IPPROTO_TCP, sport, dport, seq + 1, theirs + 1, F_ACK | F_PSH,
                             argv[6], mlen);
            send_frame(f, n);
            puts("answered");
            return 0;
        }
    }
    puts("no answer");
    return 1;
}
