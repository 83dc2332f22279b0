#include <aio/detail/task_index.hpp>

#include <aio/detail/task_state.hpp>

#include <utility>

namespace aio::detail {

namespace {
const void* key_of(const TaskStateBase* t) noexcept { return &t->signal; }
}  // namespace

std::size_t TaskIndex::slot_of(const void* key) const noexcept {
  // Fibonacci hashing: task states are heap blocks, so the low bits carry little.
  auto h = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(key)) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(h >> 32) & (slots_.size() - 1);
}

void TaskIndex::grow() {
  std::vector<TaskStateBase*> old(slots_.empty() ? 16 : slots_.size() * 2, nullptr);
  old.swap(slots_);
  for (auto* t : old) {
    if (!t) continue;
    auto i = slot_of(key_of(t));
    while (slots_[i]) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = t;
  }
}

void TaskIndex::insert(TaskStateBase* task) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  auto i = slot_of(key_of(task));
  while (slots_[i]) i = (i + 1) & (slots_.size() - 1);
  slots_[i] = task;
  ++size_;
}

void TaskIndex::erase(TaskStateBase* task) noexcept {
  if (slots_.empty()) return;
  const auto mask = slots_.size() - 1;
  auto i = slot_of(key_of(task));
  while (slots_[i] != task) {
    if (!slots_[i]) return;
    i = (i + 1) & mask;
  }
  slots_[i] = nullptr;
  --size_;
  // Backward shift: pull later entries of the probe run into the hole so
  // that lookups never stop early at it.
  for (auto j = (i + 1) & mask; slots_[j]; j = (j + 1) & mask) {
    auto home = slot_of(key_of(slots_[j]));
    bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      slots_[i] = std::exchange(slots_[j], nullptr);
      i = j;
    }
  }
}

TaskStateBase* TaskIndex::find(const void* signal) const noexcept {
  if (slots_.empty() || !signal) return nullptr;
  const auto mask = slots_.size() - 1;
  for (auto i = slot_of(signal); slots_[i]; i = (i + 1) & mask)
    if (key_of(slots_[i]) == signal) return slots_[i];
  return nullptr;
}

}  // namespace aio::detail
