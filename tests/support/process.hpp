#pragma once
// Running a chapter VMM as a user would, and capturing what it prints.

#include <chrono>
#include <string>
#include <vector>

namespace stepvmm::test {

struct ProcessResult {
    int exit_code = -1;      // the program's exit status; 128+N if killed by signal N
    bool timed_out = false;
    std::string out;
    std::string err;
};

// Runs argv[0] with argv, feeding @p input on stdin (then end of file), and kills it after
// @p timeout.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120),
    const std::string& input = "");

// Path of a chapter's VMM binary, e.g. chapter_binary("ch01_kvm_run").
std::string chapter_binary(const std::string& name);

// Number of lines in @p text that contain @p needle.
std::size_t count_lines_containing(const std::string& text, const std::string& needle);

// The lines of @p text.
std::vector<std::string> lines_of(const std::string& text);

}
