/* Opens argv[1] with the 32-bit open (int 0x80, ia32 number 5) from a 64-bit process, reads it with
 * the 64-bit read(2) and prints it. Built static and not position-independent by tests/doors.rs,
 * so the path buffer sits below 4 GiB where the 32-bit call can name it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char path[4096];

int main(int argc, char **argv) {
    if (argc < 2 || strlen(argv[1]) >= sizeof path) return 2;
    strcpy(path, argv[1]);
    int fd;
    __asm__ volatile("int $0x80" : "=a"(fd) : "a"(5), "b"(path), "c"(0) : "memory");
    if (fd < 0) { printf("open=%d\n", fd); return 1; }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n > 0) { buf[n] = 0; printf("%s\n", buf); }
    return 0;
}
