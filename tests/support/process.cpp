#include "process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace stepvmm::test {

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout, const std::string& input)
{
    int out_pipe[2];
    int err_pipe[2];
    int in_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(in_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2 failed");
    // Small inputs fit the pipe buffer: write them all now, then close for end of file.
    if (::write(in_pipe[1], input.data(), input.size()) != static_cast<ssize_t>(input.size()))
        throw std::runtime_error("stdin input larger than a pipe buffer");
    ::close(in_pipe[1]);
    pid_t child = ::fork();
    if (child < 0)
        throw std::runtime_error("fork failed");
    if (child == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        std::vector<char*> args;
        for (const std::string& arg : argv)
            args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);

    ProcessResult result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<pollfd, 2> fds { { { out_pipe[0], POLLIN, 0 }, { err_pipe[0], POLLIN, 0 } } };
    std::array<std::string*, 2> sinks { &result.out, &result.err };
    int open_pipes = 2;
    while (open_pipes > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(child, SIGKILL);
            break;
        }
        if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR)
            break;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buffer[4096];
            ssize_t count = ::read(fds[i].fd, buffer, sizeof(buffer));
            if (count <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            } else {
                sinks[i]->append(buffer, static_cast<std::size_t>(count));
            }
        }
    }
    for (const pollfd& fd : fds) {
        if (fd.fd >= 0)
            ::close(fd.fd);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::string chapter_binary(const std::string& name) { return std::string(STEPVMM_CHAPTER_DIR) + "/" + name; }

std::size_t count_lines_containing(const std::string& text, const std::string& needle)
{
    std::size_t count = 0;
    for (const std::string& line : lines_of(text))
        count += line.find(needle) != std::string::npos;
    return count;
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream stream(text);
    std::string line;
    while (std::getline(stream, line))
        lines.push_back(line);
    return lines;
}

}
