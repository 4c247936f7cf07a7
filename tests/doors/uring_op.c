/* One io_uring request with raw syscalls: what an agent does to open or delete a file or reach a
 * server without the openat, unlink or connect syscall. Built by tests/doors.rs.
 *   uring_op open PATH     IORING_OP_OPENAT, then read(2): prints the file, or `open=N` (-errno)
 *   uring_op unlink PATH   IORING_OP_UNLINKAT: prints `result=N` (0 or -errno)
 *   uring_op connect PORT  IORING_OP_CONNECT to 127.0.0.1:PORT: prints `result=N` */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = syscall(__NR_io_uring_setup, 4, &p);
    if (ring < 0) { perror("io_uring_setup"); return 1; }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(0, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    char *cq = mmap(0, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) { perror("mmap"); return 1; }
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned index = *tail & mask;
    struct io_uring_sqe *sqe = &sqes[index];
    memset(sqe, 0, sizeof *sqe);
    static struct sockaddr_in to;
    int open = strcmp(argv[1], "open") == 0;
    if (open) {
        sqe->opcode = IORING_OP_OPENAT;
        sqe->fd = AT_FDCWD;
        sqe->addr = (unsigned long)argv[2];
        sqe->open_flags = O_RDONLY;
    } else if (strcmp(argv[1], "unlink") == 0) {
        sqe->opcode = IORING_OP_UNLINKAT;
        sqe->fd = AT_FDCWD;
        sqe->addr = (unsigned long)argv[2];
    } else if (strcmp(argv[1], "connect") == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) { perror("socket"); return 1; }
        to.sin_family = AF_INET;
        to.sin_port = htons((unsigned short)atoi(argv[2]));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sqe->opcode = IORING_OP_CONNECT;
        sqe->fd = s;
        sqe->addr = (unsigned long)&to;
        sqe->off = sizeof to;
    } else {
        return 2;
    }
    array[index] = index;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, 0, 0) < 0) { perror("io_uring_enter"); return 1; }
    unsigned head = *(unsigned *)(cq + p.cq_off.head);
    struct io_uring_cqe *cqe = &((struct io_uring_cqe *)(cq + p.cq_off.cqes))[head & *(unsigned *)(cq + p.cq_off.ring_mask)];
    if (open && cqe->res >= 0) {
        char buf[256];
        ssize_t n = read(cqe->res, buf, sizeof buf - 1);
        if (n > 0) { buf[n] = 0; printf("%s\n", buf); }
        return 0;
    }
    printf("%s=%d\n", open ? "open" : "result", cqe->res);
    return cqe->res < 0 ? 1 : 0;
}
