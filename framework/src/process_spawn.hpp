// framework/src/process_spawn.hpp — private. Starting a child for create_subprocess_exec.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include <aio/subprocess.hpp>

#include "owned_fd.hpp"

namespace aio::detail {

// A started child: its pid, its pidfd, and the parent's ends of its pipes
// (-1 where the stream is not piped), all close-on-exec and blocking
// (the pipe transport makes its end non-blocking).
struct SpawnedChild {
  pid_t pid = -1;
  OwnedFd pidfd;
  OwnedFd stdin_pipe;
  OwnedFd stdout_pipe;
  OwnedFd stderr_pipe;
};

// Throws: as create_subprocess_exec. Nothing is left behind on error (no
// descriptor, no child).
SpawnedChild spawn_child(const std::vector<std::string>& argv, const SubprocessOptions& options);

}  // namespace aio::detail
