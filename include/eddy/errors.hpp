// eddy — the exception types eddy throws besides std::system_error.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

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

} // namespace eddy
