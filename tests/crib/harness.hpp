// Running real processes for the CRIB end-to-end tests and the dump
// benchmark: workloads (tests/crib/workloads/workload.h has their protocol),
// the crib CLI with a deadline, and reaping. Header-only and free of
// GoogleTest so that bench/crib_dump shares it. Every wait has a deadline: a
// straggler is killed, never waited on forever.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace crib::harness {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr auto kReadyTimeout = seconds(60);   // a 1 GiB heap takes a while to fill
inline constexpr auto kResultTimeout = seconds(60);  // checking 1 GiB too
inline constexpr auto kCribTimeout = seconds(120);

inline std::string bin_dir() {
    return CRIB_BIN_DIR;
}
inline std::string crib_path() {
    return bin_dir() + "/crib";
}
inline std::string workload_path(const std::string& name) {
    return bin_dir() + "/workloads/" + name;
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// Why checkpoint tests cannot run here, or empty. In CI (CI=true) they
// always run: a missing capability there is a failure, not a skip.
inline std::string skip_reason() {
    const char* ci = getenv("CI");
    if (ci && std::string(ci) == "true") return {};
    std::string status = read_file("/proc/self/status");
    size_t at = status.find("CapEff:");
    uint64_t caps = at == std::string::npos ? 0 : std::stoull(status.substr(at + 7), nullptr, 16);
    constexpr int kNeeded[] = {19 /* SYS_PTRACE */, 21 /* SYS_ADMIN */,
                               40 /* CHECKPOINT_RESTORE */};
    for (int cap : kNeeded)
        if (!(caps >> cap & 1))
            return "needs CAP_SYS_PTRACE, CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE (capability " +
                   std::to_string(cap) + " missing); CI=true runs it anyway";
    return {};
}

// Orphans of `crib restore -d` (and of a crash) come to us, not to a PID 1
// that reaps them seconds late.
inline void become_subreaper() {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

inline bool alive(pid_t pid) {
    // kill(pid, 0) also succeeds on zombies: look at the state instead.
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

inline pid_t parent_of(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return -1;
    std::istringstream rest(stat.substr(paren + 2));
    char state;
    pid_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

// Children of this process (including adopted orphans), from /proc.
inline std::vector<pid_t> children() {
    std::vector<pid_t> found;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        if (parent_of(pid) == getpid()) found.push_back(pid);
    }
    return found;
}

struct Exit {
    bool timed_out = false;
    int code = -1;   // exit status, or -1
    int signal = 0;  // the signal that killed it, or 0
    bool ok() const { return !timed_out && code == 0; }
    std::string describe() const {
        if (timed_out) return "timed out (killed)";
        if (signal) return "killed by signal " + std::to_string(signal);
        return "exit status " + std::to_string(code);
    }
};

inline Exit decode(int status) {
    Exit exit;
    if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
    return exit;
}

// Waits for a child (or adopted orphan) to end; kills it at the deadline.
inline Exit wait_exit(pid_t pid, Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG | __WALL);
        if (got == pid) return decode(status);
        if (got < 0) return Exit{};  // not our child (any more)
        if (Clock::now() >= deadline) break;
        std::this_thread::sleep_for(milliseconds(2));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, __WALL);
    Exit exit;
    exit.timed_out = true;
    return exit;
}

// Kills and reaps what is left of a test: children and adopted orphans.
inline void kill_children() {
    for (pid_t pid : children()) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, __WALL);
    }
}

inline void reap_zombies() {
    while (waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {
    }
}

inline bool wait_until(Clock::duration timeout, auto&& done) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds(2));
    }
    return true;
}

struct SpawnOptions {
    std::string stdout_path = "/dev/null", stderr_path = "/dev/null";
    bool new_session = false;
};

// fork + exec with stdin /dev/null and output to files: never pipes, which a
// restored process would inherit or a dump would refuse.
inline pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (options.new_session) setsid();
    int in = open("/dev/null", O_RDONLY);
    int out = open(options.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execv(args[0], args.data());
    _exit(127);
}

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "crib-e2e") {
        std::string pattern = std::filesystem::temp_directory_path() / (prefix + ".XXXXXX");
        m_path = mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::string operator/(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

struct CribRun {
    Exit exit;
    std::string out, err;
    double seconds = 0;
    std::string text() const { return out + err; }
};

// A crib command in the background; finish() collects it.
class CribProcess {
public:
    explicit CribProcess(const std::vector<std::string>& args) : m_dir("crib-cli") {
        std::vector<std::string> argv{crib_path()};
        argv.insert(argv.end(), args.begin(), args.end());
        m_start = Clock::now();
        m_pid = spawn(argv, {m_dir / "stdout", m_dir / "stderr"});
    }
    pid_t pid() const { return m_pid; }
    CribRun finish(Clock::duration timeout = kCribTimeout) {
        CribRun run;
        run.exit = wait_exit(m_pid, timeout);
        run.seconds = std::chrono::duration<double>(Clock::now() - m_start).count();
        run.out = read_file(m_dir / "stdout");
        run.err = read_file(m_dir / "stderr");
        return run;
    }

private:
    TempDir m_dir;
    pid_t m_pid;
    Clock::time_point m_start;
};

inline CribRun run_crib(const std::vector<std::string>& args,
                        Clock::duration timeout = kCribTimeout) {
    return CribProcess(args).finish(timeout);
}

// A workload program started in its own session in a fresh work directory.
class Workload {
public:
    Workload(const std::string& name, const std::vector<std::string>& args = {})
        : m_name(name), m_dir("crib-" + name) {
        std::vector<std::string> argv{workload_path(name), m_dir.path()};
        argv.insert(argv.end(), args.begin(), args.end());
        m_pid = spawn(argv, {m_dir / "stdout", m_dir / "stderr", true});
    }
    ~Workload() {
        // Only a process still running our program is ours to kill.
        if (m_pid > 0 && alive(m_pid) &&
            read_file("/proc/" + std::to_string(m_pid) + "/cmdline").find(m_dir.path()) !=
                std::string::npos)
            kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, WNOHANG | __WALL);
    }
    Workload(const Workload&) = delete;
    Workload& operator=(const Workload&) = delete;

    pid_t pid() const { return m_pid; }
    const std::string& name() const { return m_name; }
    const TempDir& dir() const { return m_dir; }

    // Empty when ready; otherwise why not (its stderr, its exit).
    std::string wait_ready(Clock::duration timeout = kReadyTimeout) {
        bool ready = wait_until(
            timeout, [&] { return std::filesystem::exists(m_dir / "ready") || !alive(m_pid); });
        if (ready && std::filesystem::exists(m_dir / "ready")) return {};
        return m_name + " not ready: " + (alive(m_pid) ? "timed out" : "it died") +
               "; stderr: " + read_file(m_dir / "stderr");
    }

    // DIR/check, then the SIGUSR1 every workload expects once it answers
    // with DIR/checking (see workload.h; idle is woken by the signal itself).
    // Empty when signalled; otherwise why not.
    std::string request_check(Clock::duration timeout = kResultTimeout) const {
        write_file(m_dir / "check", "");
        if (m_name != "idle") {
            bool answered = wait_until(timeout, [&] {
                return std::filesystem::exists(m_dir / "checking") || !alive(m_pid);
            });
            if (!std::filesystem::exists(m_dir / "checking"))
                return m_name +
                       " did not answer DIR/check: " + (answered ? "it died" : "timed out") +
                       "; stderr: " + read_file(m_dir / "stderr");
        }
        kill(m_pid, SIGUSR1);
        return {};
    }

    // DIR/result ("ok", "fail: ..."), or why there is none.
    std::string wait_result(Clock::duration timeout = kResultTimeout) const {
        bool done = wait_until(
            timeout, [&] { return std::filesystem::exists(m_dir / "result") || !alive(m_pid); });
        // a process that wrote its result may exit in the same instant
        if (std::filesystem::exists(m_dir / "result")) {
            std::string result = read_file(m_dir / "result");
            while (!result.empty() && result.back() == '\n') result.pop_back();
            return result;
        }
        return std::string(done ? "died without a result" : "no result in time") +
               "; stderr: " + read_file(m_dir / "stderr");
    }

    // request_check + wait_result: "ok" or what went wrong.
    std::string check() const {
        std::string refused = request_check();
        return refused.empty() ? wait_result() : refused;
    }

private:
    std::string m_name;
    TempDir m_dir;
    pid_t m_pid;
};

}  // namespace crib::harness
