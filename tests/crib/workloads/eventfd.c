/* eventfd: a counting eventfd at 7, an EFD_SEMAPHORE one at 3, an
 * EFD_NONBLOCK one at 0, and one the loop keeps adding to and reading. */
#include "workload.h"

#include <sys/eventfd.h>

/* Non-blocking: a count lost in the restore must fail the check, not hang it. */
static void expect_count(int fd, uint64_t expected, const char* what) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uint64_t value = 0;
    ssize_t n = read(fd, &value, sizeof value);
    WL_EXPECT(n == 8 && value == expected, "%s: read %zd bytes, value %llu, expected %llu", what, n,
              (unsigned long long)value, (unsigned long long)expected);
}

static void expect_empty(int fd, const char* what) {
    uint64_t value;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    errno = 0;
    WL_EXPECT(read(fd, &value, sizeof value) < 0 && errno == EAGAIN,
              "%s: still readable after its count was taken", what);
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    int counting = eventfd(7, EFD_CLOEXEC);
    int semaphore = eventfd(3, EFD_SEMAPHORE);
    int nonblock = eventfd(0, EFD_NONBLOCK);
    int busy = eventfd(0, 0);
    if (counting < 0 || semaphore < 0 || nonblock < 0 || busy < 0) wl_die("eventfd");

    wl_ready();
    /* busy holds (added - taken) at every point between the two syscalls */
    uint64_t added = 0, taken = 0;
    for (uint64_t step = 1;; step++) {
        uint64_t add = step % 5 + 1;
        if (write(busy, &add, 8) != 8) wl_die("eventfd write");
        added += add;
        if (step % 4 == 0) {
            uint64_t value;
            if (read(busy, &value, 8) != 8) wl_die("eventfd read");
            taken += value;
        }
        if (wl_check_due()) break;
    }

    WL_EXPECT(fcntl(counting, F_GETFD) == FD_CLOEXEC, "counting eventfd lost FD_CLOEXEC");
    WL_EXPECT(fcntl(nonblock, F_GETFL) & O_NONBLOCK, "EFD_NONBLOCK eventfd is blocking now");
    WL_EXPECT(!(fcntl(semaphore, F_GETFL) & O_NONBLOCK), "semaphore eventfd became non-blocking");
    expect_count(counting, 7, "counting eventfd");
    expect_empty(counting, "counting eventfd");
    for (int i = 0; i < 3; i++) expect_count(semaphore, 1, "EFD_SEMAPHORE eventfd");
    expect_empty(semaphore, "EFD_SEMAPHORE eventfd");
    expect_empty(nonblock, "EFD_NONBLOCK eventfd");
    if (added == taken) /* a read just took it all */
        expect_empty(busy, "busy eventfd");
    else
        expect_count(busy, added - taken, "busy eventfd");
    uint64_t one = 1;
    WL_EXPECT(write(nonblock, &one, 8) == 8, "EFD_NONBLOCK eventfd not writable");
    expect_count(nonblock, 1, "EFD_NONBLOCK eventfd after a write");
    wl_finish();
}
