// eddy — the exception types eddy throws besides std::system_error.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace eddy {

/// Thrown at the `co_await` where a task is suspended when the task is cancelled
/// (asyncio.CancelledError).
///
/// Deliberately NOT derived from std::exception, for the reason asyncio moved CancelledError
/// out of Exception in Python 3.8: a `catch (const std::exception&)` written to handle errors
/// must not swallow a cancellation by accident. Catch it by name (or with `catch (...)`), clean
/// up, and rethrow it unless you really mean to refuse the cancellation.
class cancelled_error {
  public:
    cancelled_error() = default;
    /// `message` is the text passed to `cancel(msg)`, if any.
    explicit cancelled_error(std::string message) : message_(std::move(message)) {}
    /// The cancel message, or "cancelled" when none was given.
    [[nodiscard]] const char* what() const noexcept {
        return message_.empty() ? "cancelled" : message_.c_str();
    }
    /// The cancel message as given (may be empty).
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

  private:
    std::string message_;
};

/// What `eddy::run` throws when Ctrl-C (SIGINT) cancelled the main task and the main task
/// ended with that cancellation (Python's KeyboardInterrupt from asyncio.run). Like
/// cancelled_error it is not a std::exception, so generic error handlers do not swallow it;
/// catch it in main() and exit with 130 as shells expect.
class keyboard_interrupt {
  public:
    /// Always "interrupted (SIGINT)". Not an override: the class is not a std::exception.
    [[nodiscard]] const char* what() const noexcept { return "interrupted (SIGINT)"; }
};

/// An operation was asked of a future or task in a state that does not allow it: a result set
/// twice, a result read before it exists (asyncio.InvalidStateError).
class invalid_state_error : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

/// The event loop was used in a way it cannot serve: `run` called while a loop is running on
/// this thread, a loop function called with no running loop, or a run that can never finish
/// (the main task waits but nothing could ever wake it).
class loop_error : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

/// A deadline passed: thrown by `wait_for` and by leaving a `timeout` scope that expired
/// (asyncio.TimeoutError). The work it covered was cancelled and has finished cancelling.
class timeout_error : public std::runtime_error {
  public:
    /// Carries the message "eddy: timed out".
    timeout_error() : std::runtime_error("eddy: timed out") {}
    using std::runtime_error::runtime_error;
};

/// Several failures reported together (Python's ExceptionGroup): what a `task_group` throws
/// when its children (or its body) failed. Holds every failure in the order they happened;
/// cancellations are left out, as asyncio's TaskGroup leaves out CancelledError.
class exception_group : public std::exception {
  public:
    /// `exceptions` must not be empty. Builds a message naming each failure.
    exception_group(std::string message, std::vector<std::exception_ptr> exceptions)
        // NOLINTNEXTLINE(bugprone-throw-keyword-missing): a vector of exception_ptr, not a throw
        : exceptions_(std::move(exceptions)) {
        message_ = std::move(message) + " (" + std::to_string(exceptions_.size()) +
                   (exceptions_.size() == 1 ? " sub-exception)" : " sub-exceptions)");
        for (std::size_t i = 0; i < exceptions_.size(); ++i) {
            message_ += i == 0 ? ": " : "; ";
            message_ += describe(exceptions_[i]);
        }
    }
    /// The message and, for each failure, its what().
    [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }
    /// The failures, in the order they happened. Rethrow one with std::rethrow_exception.
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept {
        return exceptions_;
    }
    /// Number of failures.
    [[nodiscard]] std::size_t size() const noexcept { return exceptions_.size(); }

  private:
    static std::string describe(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            return x.what();
        } catch (const cancelled_error& c) {
            return c.what();
        } catch (...) {
            return "unknown exception";
        }
    }

    std::vector<std::exception_ptr> exceptions_;
    std::string message_;
};

/// A barrier was broken (abort) or reset while, or before, a task waited on it
/// (asyncio.BrokenBarrierError).
class broken_barrier_error : public std::runtime_error {
  public:
    /// Carries the message "eddy: the barrier is broken".
    broken_barrier_error() : std::runtime_error("eddy: the barrier is broken") {}
    using std::runtime_error::runtime_error;
};

/// get_nowait() on an empty queue (asyncio.QueueEmpty).
class queue_empty : public std::runtime_error {
  public:
    /// Carries the message "eddy: the queue is empty".
    queue_empty() : std::runtime_error("eddy: the queue is empty") {}
};

/// put_nowait() on a full queue (asyncio.QueueFull).
class queue_full : public std::runtime_error {
  public:
    /// Carries the message "eddy: the queue is full".
    queue_full() : std::runtime_error("eddy: the queue is full") {}
};

/// A put on a queue that was shut down, or a get on one that was shut down and is empty (or
/// shut down immediately) (asyncio.QueueShutDown, Python 3.13).
class queue_shutdown : public std::runtime_error {
  public:
    /// Carries the message "eddy: the queue is shut down".
    queue_shutdown() : std::runtime_error("eddy: the queue is shut down") {}
};

/// A stream ended before a read got what it asked for (asyncio.IncompleteReadError): thrown by
/// `stream_reader::read_exactly` and `read_until` at end of file. The bytes read before the end
/// are consumed from the stream and carried here.
class incomplete_read_error : public std::runtime_error {
  public:
    /// `partial`: the bytes read before the end; `expected`: the count asked for, or nullopt
    /// when unknown (read_until).
    incomplete_read_error(std::string partial, std::optional<std::size_t> expected)
        : std::runtime_error("eddy: " + std::to_string(partial.size()) +
                             " bytes read on a total of " +
                             (expected ? std::to_string(*expected) : std::string("undefined")) +
                             " expected bytes"),
          partial_(std::move(partial)), expected_(expected) {}
    /// The bytes read before the end of the stream.
    [[nodiscard]] const std::string& partial() const noexcept { return partial_; }
    /// The byte count the read asked for; nullopt when it was looking for a separator.
    [[nodiscard]] std::optional<std::size_t> expected() const noexcept { return expected_; }

  private:
    std::string partial_;
    std::optional<std::size_t> expected_;
};

/// A stream read looking for a separator hit the reader's limit (asyncio.LimitOverrunError).
/// Nothing was consumed: the bytes stay buffered in the reader and can be read again.
class limit_overrun_error : public std::runtime_error {
  public:
    /// `consumed`: how many bytes would have to be consumed (asyncio's attribute of that name).
    limit_overrun_error(const std::string& message, std::size_t consumed)
        : std::runtime_error(message), consumed_(consumed) {}
    /// The number of bytes to be consumed: the separator's offset when it was found beyond
    /// the limit, else the bytes searched so far.
    [[nodiscard]] std::size_t consumed() const noexcept { return consumed_; }

  private:
    std::size_t consumed_;
};

} // namespace eddy
