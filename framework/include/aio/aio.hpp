// aio/aio.hpp — public. The umbrella include: everything aio offers.
#pragma once

#include <aio/compose.hpp>
#include <aio/connection.hpp>
#include <aio/datagram.hpp>
#include <aio/exceptions.hpp>
#include <aio/futures.hpp>
#include <aio/generators.hpp>
#include <aio/getaddrinfo.hpp>
#include <aio/locks.hpp>
#include <aio/metrics.hpp>
#include <aio/queues.hpp>
#include <aio/runners.hpp>
#include <aio/server.hpp>
#include <aio/socket_activation.hpp>
#include <aio/streams.hpp>
#include <aio/subprocess.hpp>
#include <aio/taskgroups.hpp>
#include <aio/tasks.hpp>
#include <aio/timeouts.hpp>
#include <aio/tls.hpp>
#include <aio/use_task.hpp>
