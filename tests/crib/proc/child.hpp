// Child processes for the proc tests: forked from the test, they set up the
// state a test wants, then talk to the test through two pipes (lines of
// text), so a test can tell what the child saw before and after a freeze.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

namespace crib::proc::test {

// Tests that need ptrace skip off CI only when it is really unavailable.
inline bool in_ci() {
    return std::getenv("CI") != nullptr;
}

// Polls `condition` every 5 ms for up to `timeout_ms`.
inline bool wait_until(const std::function<bool()>& condition, int timeout_ms = 5000) {
    for (int waited = 0; waited < timeout_ms; waited += 5) {
        if (condition()) return true;
        usleep(5000);
    }
    return condition();
}

// One end of the line protocol between the test and a child.
class Channel {
public:
    Channel(int in, int out) : m_in(in), m_out(out) {}
    void send(const std::string& line) const {
        std::string text = line + "\n";
        size_t done = 0;
        while (done < text.size()) {
            ssize_t wrote = write(m_out, text.data() + done, text.size() - done);
            if (wrote <= 0) return;
            done += static_cast<size_t>(wrote);
        }
    }
    // The next line, or "" after `timeout_ms` or at EOF.
    std::string receive(int timeout_ms = 10000) const {
        std::string line;
        for (;;) {
            pollfd pfd{m_in, POLLIN, 0};
            int ready = poll(&pfd, 1, timeout_ms);
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return "";
            char c = 0;
            ssize_t got = read(m_in, &c, 1);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return "";
            if (c == '\n') return line;
            line += c;
        }
    }
    int in_fd() const { return m_in; }
    int out_fd() const { return m_out; }

private:
    int m_in, m_out;
};

class Child {
public:
    // Forks a child running `body` (which should never return; the child
    // exits 0 if it does). The test becomes a subreaper, so grandchildren
    // come back to it rather than to this machine's slow init.
    explicit Child(const std::function<void(const Channel&)>& body) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        int to_child[2], from_child[2];
        if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) std::abort();
        m_pid = fork();
        if (m_pid < 0) std::abort();
        if (m_pid == 0) {
            close(to_child[1]);
            close(from_child[0]);
            body(Channel(to_child[0], from_child[1]));
            _exit(0);
        }
        close(to_child[0]);
        close(from_child[1]);
        m_channel = Channel(from_child[0], to_child[1]);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            reap();
        }
        close(m_channel.in_fd());
        close(m_channel.out_fd());
    }

    pid_t pid() const { return m_pid; }
    const Channel& channel() const { return m_channel; }
    void send(const std::string& line) const { m_channel.send(line); }
    std::string receive(int timeout_ms = 10000) const { return m_channel.receive(timeout_ms); }

    // Waits for the child's exit; returns the wait status or -1 if it was
    // reaped already (by Freezer::kill, say).
    int reap() {
        int status = 0;
        pid_t got;
        do got = waitpid(m_pid, &status, __WALL);
        while (got < 0 && errno == EINTR);
        m_pid = -1;
        return got < 0 ? -1 : status;
    }

private:
    pid_t m_pid = -1;
    Channel m_channel{-1, -1};
};

}  // namespace crib::proc::test
