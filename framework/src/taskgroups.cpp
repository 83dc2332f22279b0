#include <aio/taskgroups.hpp>

namespace aio {

Task<void> TaskGroup::join() {
  auto set = set_;
  co_await set->wait_all();
  joined_ = true;
  const auto& errors = set->errors();
  if (errors.size() == 1) std::rethrow_exception(errors.front());
  if (errors.size() > 1) throw ExceptionGroup("unhandled errors in a TaskGroup", errors);
  if (set->outer_cancelled()) throw CancelledError();
}

}  // namespace aio
