// The element's work queues without GObject: a blocking FIFO per stage (streaming thread ->
// convert thread -> worker, and the text stream's queue), and the policy for windows waiting for
// the model (wait, or drop the oldest). Header-only templates; unit-tested in
// tests/element/test_workqueue.cpp.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace gstslowfast {

// A FIFO from producer threads to one consumer. pop() blocks until an item comes or the queue is
// closed; a closed queue takes nothing and wakes its consumer for good (stop), until open().
template <typename T>
class StageQueue {
 public:
  // False (and the item is dropped) when the queue is closed.
  bool push(T item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return false;
      items_.push_back(std::move(item));
    }
    cond_.notify_one();
    return true;
  }

  // The next item, or nothing once the queue is closed.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    cond_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (closed_) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  // The next item and every following one `together(first, next)` accepts, at most `limit` in
  // all (a batch); empty once the queue is closed.
  template <typename Together>
  std::vector<T> pop_run(size_t limit, Together together) {
    std::vector<T> run;
    std::unique_lock<std::mutex> lock(mutex_);
    cond_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (closed_) return run;
    run.push_back(std::move(items_.front()));
    items_.pop_front();
    while (!items_.empty() && run.size() < limit && together(run.front(), items_.front())) {
      run.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return run;
  }

  // Drops every queued item (flush); the queue stays open.
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.clear();
  }

  // Drops the queued items `reject` returns true for.
  template <typename Reject>
  void remove_if(Reject reject) {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.erase(std::remove_if(items_.begin(), items_.end(), reject), items_.end());
  }

  // Drops everything and wakes the consumer, whose pop() returns nothing from now on.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      items_.clear();
    }
    cond_.notify_all();
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Windows handed to the worker and not yet taken by it, at most `max_pending` (the element's
// max-pending-windows). When that many are pending, a new window either waits for the worker to
// take one (back-pressure on the streaming thread) or drops the oldest (leaky). W is compared with
// ==: a shared pointer to the window's job.
template <typename W>
class PendingWindows {
 public:
  struct Admission {
    bool admitted = false;   // false: interrupted while waiting (flush, stop)
    std::vector<W> dropped;  // oldest first
  };

  Admission admit(W window, size_t max_pending, bool drop) {
    Admission admission;
    max_pending = std::max<size_t>(max_pending, 1);
    std::unique_lock<std::mutex> lock(mutex_);
    if (drop) {
      while (windows_.size() >= max_pending) {
        admission.dropped.push_back(std::move(windows_.front()));
        windows_.pop_front();
      }
    } else {
      cond_.wait(lock, [&] { return interrupted_ || windows_.size() < max_pending; });
    }
    if (interrupted_) return admission;
    windows_.push_back(std::move(window));
    admission.admitted = true;
    return admission;
  }

  // The worker takes `window`; false when it was dropped meanwhile (the worker skips it).
  bool take(const W& window) {
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = std::find(windows_.begin(), windows_.end(), window);
      found = it != windows_.end();
      if (found) windows_.erase(it);
    }
    cond_.notify_all();
    return found;
  }

  // The oldest pending window, if any.
  std::optional<W> oldest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (windows_.empty()) return std::nullopt;
    return windows_.front();
  }

  // Forgets every pending window (a new segment); a waiting admit() goes on waiting for room.
  void clear() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      windows_.clear();
    }
    cond_.notify_all();
  }

  // Forgets every pending window and makes a waiting admit() return (flush, stop) until resume().
  void interrupt() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      interrupted_ = true;
      windows_.clear();
    }
    cond_.notify_all();
  }
  void resume() {
    std::lock_guard<std::mutex> lock(mutex_);
    interrupted_ = false;
    windows_.clear();
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return windows_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<W> windows_;
  bool interrupted_ = false;
};

}  // namespace gstslowfast
